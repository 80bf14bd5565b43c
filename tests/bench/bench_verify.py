"""Verifier throughput and accuracy: factory's verifier against Math-Verify on the same cases, in one run.

Two case sets, both our own (no public set, no other project's tests):
- the mixed set, generated here: 8 kinds of gold answer (integers, fractions, surds, multiples of π,
  intervals, sets, tuples, polynomials), each answered 4 times, correctly in another notation or wrongly,
  as a bare answer or at the end of a long chain of thought (2–6 kB). It measures speed; its answers are
  written the way our extractor reads them, so its accuracy shows little.
- the wild corpus (`tests/verifier_cases.py`): 400 hand-written cases in the styles real models write
  (Minerva, GSM8K, Qwen/DeepSeek boxes after `<think>`, multilingual chat, choice prose, debris),
  reported per category.

Factory runs in both extraction modes, each judged against its own label column of the corpus (strict
labels a response with no stated answer as cannot-tell); Math-Verify, a lenient reader, against the
lenient labels. "Right" means accepted exactly when the label is correct: a false accept is a wrong or
unstated answer accepted, a false reject a correct answer turned away.

Math-Verify is not a dependency; install it beside the project, not into it:

    .venv/bin/pip install --no-deps --target .bench-deps math-verify==0.9.0
    .venv/bin/python tests/bench/bench_verify.py [--problems 150] [--rounds 2]

Each round makes a fresh case set (so no verifier profits from a cache filled by another) and runs the
three measurements in alternating order.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from filters import VerifyConfig, verify, verify_many  # noqa: E402
from filters.verify import shared_pool  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from verifier_cases import CATEGORIES  # noqa: E402

from filters import Status  # noqa: E402

Case = tuple[str, str, bool, str]  # gold, response, label, kind
MODES = ("lenient", "strict")


def _forms(rng: random.Random) -> tuple[str, str, list[str], list[str]]:
    """(kind, gold, correct renderings, wrong renderings) of one random gold answer."""
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
    kind = rng.choice(["integer", "fraction", "surd", "pi", "interval", "set", "tuple", "polynomial"])
    if kind == "integer":
        n = rng.randint(1000, 9_999_999)
        return kind, str(n), [f"{n:,}", f"{n}.0", rf"\text{{{n}}}", f"{n} units"], [str(n + 1), str(-n)]
    if kind == "fraction":
        a, b = (a, b + a) if a != b else (a, b + 1)
        return (
            kind,
            rf"\frac{{{a}}}{{{b}}}",
            [f"{a}/{b}", rf"\dfrac{{{2 * a}}}{{{2 * b}}}"],
            [rf"\frac{{{b}}}{{{a}}}", rf"\frac{{{a + 1}}}{{{b}}}"],
        )
    if kind == "surd":
        r = rng.choice([2, 3, 5, 6, 7])
        return (
            kind,
            rf"\frac{{{a}\sqrt{{{r}}}}}{{{c}}}",
            [rf"\frac{{{a}}}{{{c}}}\sqrt{{{r}}}", rf"\sqrt{{{r}}} \cdot \frac{{{a}}}{{{c}}}"],
            [rf"\frac{{{a}\sqrt{{{r + 1}}}}}{{{c}}}", rf"\frac{{{a}}}{{{c}}}\sqrt{{{r * 4}}}"],
        )
    if kind == "pi":
        return (
            kind,
            rf"\frac{{{a}\pi}}{{{c}}}",
            [rf"\frac{{{a}}}{{{c}}}\pi"],
            [rf"\frac{{{a + 1}}}{{{c}}}\pi"],
        )
    if kind == "interval":
        lo, hi = sorted((a, b + 41))
        return (
            kind,
            f"({lo}, {hi}]",
            [f"({lo},{hi}]", rf"{lo} < x \le {hi}"],
            [f"[{lo}, {hi}]", f"({lo}, {hi})"],
        )
    if kind == "set":
        items = sorted({a, b, c + 50})
        shuffled = items[::-1]
        return (
            kind,
            r"\{" + ", ".join(map(str, items)) + r"\}",
            [r"\{" + ", ".join(map(str, shuffled)) + r"\}", ", ".join(map(str, shuffled))],
            [r"\{" + ", ".join(map(str, items[:-1] + [items[-1] + 1])) + r"\}"],
        )
    if kind == "tuple":
        return kind, f"({a}, {-b})", [rf"\left({a}, {-b}\right)"], [f"({-b}, {a})", f"({a}, {b})"]
    return (
        kind,
        f"x^2 + {a + b}x + {a * b}",
        [f"(x+{a})(x+{b})", f"{a * b} + {a + b}x + x^2"],
        [f"(x+{a})(x-{b})", f"x^2 + {a + b}x - {a * b}"],
    )


def _trace(rng: random.Random, answer: str) -> str:
    steps = []
    for index in range(rng.randint(25, 75)):
        x, y = rng.randint(10, 999), rng.randint(10, 999)
        steps.append(
            f"Step {index + 1}: we compute ${x} + {y} = {x + y}$, and then $\\frac{{{x}}}{{{y}}}$ is kept aside."
        )
    return "\n".join(steps) + f"\nTherefore, the final answer is $\\boxed{{{answer}}}$."


def make_cases(seed: int, problems: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(problems):
        kind, gold, right, wrong = _forms(rng)
        for _ in range(4):  # four samples per problem, as rejection sampling draws them
            label = rng.random() < 0.5
            answer = rng.choice(right if label else wrong)
            response = answer if rng.random() < 0.5 else _trace(rng, answer)
            cases.append((gold, response, label, kind))
    return cases


def run_ours_single(cases: list[Case], config: VerifyConfig) -> tuple[list[bool], float]:
    verdicts, slowest = [], 0.0
    for gold, response, _, _ in cases:
        started = time.perf_counter()
        verdicts.append(verify(gold, response, config).correct)
        slowest = max(slowest, time.perf_counter() - started)
    return verdicts, slowest


def run_ours_pool(cases: list[Case], workers: int, config: VerifyConfig) -> list[bool]:
    return [v.correct for v in verify_many([(g, r) for g, r, _, _ in cases], config, workers=workers)]


def _wrapped(text: str) -> str:
    """Math-Verify reads LaTeX only between math delimiters, its documented input: bare golds and bare
    answers are wrapped for it (ours reads them as they are)."""
    return text if "\n" in text or "$" in text or "\\boxed" in text else f"${text}$"


def run_math_verify(cases: list[Case]) -> list[bool]:
    from math_verify import parse
    from math_verify import verify as mv_verify

    return [
        bool(mv_verify(parse(_wrapped(gold)), parse(_wrapped(response)))) for gold, response, _, _ in cases
    ]


def timed(fn: Callable[..., object], *args: object) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


CONFIGS = {mode: VerifyConfig(timeout_s=5.0, extraction=mode) for mode in MODES}


def mixed_set(problems: int, rounds: int, workers: int) -> tuple[float, float]:
    """Speed on the generated mixed set; returns factory's slowest check in each mode (s)."""
    names = [f"{mode}:single" for mode in MODES] + ["lenient:pool", "math_verify"]
    totals: Counter[str] = Counter()
    slowest: Counter[str] = Counter()
    right: Counter[str] = Counter()
    count = 0
    for round_index in range(rounds):
        cases = make_cases(seed=round_index, problems=problems)
        order = names if round_index % 2 == 0 else names[::-1]
        results: dict[str, list[bool]] = {}
        for name in order:
            mode, _, kind = name.partition(":")
            if kind == "single":
                (verdicts, worst), seconds = timed(run_ours_single, cases, CONFIGS[mode])
                slowest[mode] = max(slowest[mode], worst)
            elif kind == "pool":
                verdicts, seconds = timed(run_ours_pool, cases, workers, CONFIGS[mode])
            else:
                verdicts, seconds = timed(run_math_verify, cases)
            results[name] = verdicts
            totals[name] += seconds
        count += len(cases)
        for name, verdicts in results.items():
            right[name] += sum(
                verdict == label for verdict, (_, _, label, _) in zip(verdicts, cases, strict=True)
            )
    rate = {name: count / seconds for name, seconds in totals.items()}
    print(f"mixed set        {count} cases ({rounds} rounds, half bare answers, half 2-6 kB traces)")
    for name in names:
        extra = f"   slowest check {slowest[name.partition(':')[0]]:.2f} s" if name.endswith("single") else ""
        extra = extra or (f"   ({workers} workers)" if name.endswith("pool") else "")
        print(f"  {name:16} {rate[name]:8.1f} verifications/s   right {right[name] / count:6.1%}{extra}")
    for mode in MODES:
        print(
            f"  ratio {mode:8}   {rate[f'{mode}:single'] / rate['math_verify']:.1f}x Math-Verify, one process"
        )
    return slowest["lenient"], slowest["strict"]


def wild_corpus() -> None:
    cases = [
        (category, gold, response, lenient, strict)
        for category, rows in CATEGORIES.items()
        for gold, response, lenient, strict in rows
    ]
    as_cases = [
        (gold, response, lenient is Status.CORRECT, category)
        for category, gold, response, lenient, _ in cases
    ]
    outcomes: dict[str, list[bool]] = {}
    seconds: dict[str, float] = {}
    for mode in MODES:
        (outcomes[mode], _), seconds[mode] = timed(run_ours_single, as_cases, CONFIGS[mode])
    outcomes["math_verify"], seconds["math_verify"] = timed(run_math_verify, as_cases)
    labels = {
        "lenient": [lenient is Status.CORRECT for _, _, _, lenient, _ in cases],
        "strict": [strict is Status.CORRECT for _, _, _, _, strict in cases],
        "math_verify": [lenient is Status.CORRECT for _, _, _, lenient, _ in cases],
    }
    print(f"wild corpus      {len(cases)} hand-written cases in the styles real models write")
    header = "".join(f"{name:>22}" for name in ("factory lenient", "factory strict", "Math-Verify"))
    print(f"  {'category':22}{header}")
    categories = list(CATEGORIES) + ["all"]
    for category in categories:
        cells = []
        for name in ("lenient", "strict", "math_verify"):
            pairs = [
                (accepted, label)
                for accepted, label, case in zip(outcomes[name], labels[name], cases, strict=True)
                if category in ("all", case[0])
            ]
            right = sum(accepted == label for accepted, label in pairs)
            cells.append(f"{right:>5}/{len(pairs):<4} {right / len(pairs):6.1%}")
        print(f"  {category:22}" + "".join(f"{cell:>22}" for cell in cells))
    for name in ("lenient", "strict", "math_verify"):
        false_accepts = sum(a and not label for a, label in zip(outcomes[name], labels[name], strict=True))
        false_rejects = sum(label and not a for a, label in zip(outcomes[name], labels[name], strict=True))
        print(
            f"  {name:12} false accepts {false_accepts:3}   false rejects {false_rejects:3}   "
            f"{len(cases) / seconds[name]:7.1f} cases/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--problems", type=int, default=150, help="mixed set: problems per round (4 cases each)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / ".bench-deps"))
    try:
        import math_verify  # noqa: F401
    except ImportError:
        sys.exit("Math-Verify is not installed; see this script's docstring for the one-line install.")
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs every timeout and parse failure

    workers = os.cpu_count() or 1
    # Start the pools before timing: process start-up is paid once per process, not per check.
    shared_pool(1).start()
    shared_pool(workers).start()
    mixed_set(args.problems, args.rounds, workers)
    wild_corpus()


if __name__ == "__main__":
    main()
