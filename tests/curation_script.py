"""A small problem set and a scripted teacher's answers that exercise every default curation unit: the
runs of tests/test_curate_pipeline.py and tests/kill_harness.py share them."""

from __future__ import annotations

from factory.records import Problem


def worked(a: int, b: int, answer: int | str, style: str = "box") -> str:
    """A short worked solution in the boxed style the prompt asks for (or another, by `style`)."""
    steps = f"We add the two numbers step by step. Starting from {a} and counting on {b} more gives {a + b}."
    if style == "box":
        return f"{steps}\nSo the answer is $\\boxed{{{answer}}}$."
    if style == "line":
        return f"{steps}\nThe answer is {answer}."
    if style == "long":
        return (
            f"{steps} Let me double-check by adding {b} and {a} instead: again {a + b}.\n\\boxed{{{answer}}}"
        )
    raise ValueError(style)


PROBLEMS = [
    Problem(id=f"p{i}", problem=f"What is {10 * i} + {i}?", answer=str(11 * i), source=f"t:{i}")
    for i in range(1, 7)
]

SCRIPT: dict[str, list[tuple[str, str]]] = {
    "p1": [
        (worked(10, 1, 11), "stop"),  # kept
        (worked(10, 1, 11), "length"),  # truncated
        (worked(10, 1, 11, "line"), "stop"),  # format: not_boxed
    ],
    "p2": [
        (r"\boxed{22}", "stop"),  # trivial_reasoning
        (worked(20, 2, 23), "stop"),  # verifier: wrong_answer
        (worked(20, 2, 22, "long"), "stop"),  # kept
    ],
    "p3": [
        (worked(30, 3, 33), "stop"),  # kept
        (worked(30, 3, 33, "long"), "stop"),  # kept (longer)
        ("A first guess: $\\boxed{34}$.\n" + worked(30, 3, 33), "stop"),  # several_boxes
    ],
    "p4": [
        (
            worked(40, 4, 44) + "\n所以答案是四十四。我们再检查一遍，四十加四等于四十四，没有问题。",
            "stop",
        ),  # script_mix
        ("Hmm. " + "So the answer is 44. " * 30 + "\\boxed{44}", "stop"),  # repetition
        (worked(40, 4, 44), "stop"),  # kept
    ],
    "p5": [(worked(50, 5, 56), "stop")] * 3,  # all wrong: nothing kept
    "p6": [
        (worked(60, 6, 66, "long"), "stop"),  # kept
        (worked(60, 6, 66), "stop"),  # kept (shortest)
        (worked(60, 6, 66), "stop"),  # kept
    ],
}
