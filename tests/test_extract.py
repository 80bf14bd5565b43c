"""Answer extraction on tables of our own responses: which text is the final answer."""

from __future__ import annotations

import pytest

from filters import extract_answer, last_boxed
from filters.extract import boxed_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so \boxed{42}", "42"),  # the plain case
        (r"\boxed{1} then \boxed{2}", "2"),  # last_boxed alone: the last box
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),  # nested braces balance
        (r"\boxed{\left\{1,2\right\}}", r"\left\{1,2\right\}"),  # escaped braces do not count
        (r"\fbox{7}", "7"),  # \fbox is a box too
        (r"\boxed {5}", "5"),  # space before the brace
        (r"\boxed 5.", "5"),  # brace-less form takes the next token
        (r"\boxed{3} and later \boxed{4", "3"),  # a truncated last box loses to an earlier complete one
        (r"no box here, 12", None),  # nothing boxed
        (r"\boxed{}", ""),  # an empty box is found (extract_answer then reports no answer)
        (r"\boxedx{3}", None),  # a longer command name is not \boxed
        (r"$\boxed{x^{2}}$", "x^{2}"),  # braces inside braces inside math
        (r"\boxed{a} } stray", "a"),  # a stray closing brace after the box is ignored
        ("{ unclosed \\boxed{9}", "9"),  # an unclosed brace before the box does not swallow it
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"\boxed{2}, \boxed{3}", "2, 3"),  # several boxes on one line form one answer
        (r"x = \boxed{2} or \boxed{3}", "2, 3"),  # a hedge on one line: joined, so it matches no single gold
        ("\\boxed{2}\nrechecking...\n\\boxed{3}", "3"),  # a box on a later line supersedes earlier ones
        (r"\boxed{2} and again \boxed{2}", "2"),  # the same box twice is one answer
        (r"\boxed{\boxed{5}}", "5"),  # a box in a box
        (r"\boxed{1}\boxed{2", "1"),  # the unclosed last box is skipped
        (r"inside \boxed{}, for example \boxed{42}.", "42"),  # an empty box adds nothing to the line
    ],
)
def test_boxed_answer_joins_boxes_on_the_last_line(text, expected):
    assert boxed_answer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # markers, in prose
        ("Adding gives 12.\nThe final answer is 12.", "12"),  # "The final answer is", period dropped
        ("The final answer is $\\frac{3}{4}$.", r"\frac{3}{4}"),  # the formula inside the sentence
        ("So the answer is 3.5 because 7/2 = 3.5.", "3.5"),  # a decimal point is not a sentence end
        ("The answer is 12. This is because 3 * 4 = 12.", "12"),  # the explanation after is dropped
        ("x = 12 so\nAnswer: 13", "13"),  # an "Answer:" line beats an intermediate "= 12"
        ("Answer: 1\nlater... Answer: 2", "2"),  # the last statement wins
        ("**Answer:** 73", "73"),  # markdown around the marker
        ("The answer is **73**.", "**73**"),  # emphasis kept here, dropped by normalisation
        ("**Final Answer**: 7", "7"),  # bold marker, colon after the emphasis
        ("Final Answer:\n\n42\n", "42"),  # answer on the line after the marker
        ("FINAL ANSWER: 8", "8"),  # markers are case-insensitive
        ("The answer is: $x = 4$", "x = 4"),  # colon after "is", math delimiters
        ("The answer is \\(5\\)", "5"),  # \( \) delimiters
        ("We get 5 + 6 = 11, therefore the answer is 11; done", "11"),  # semicolon ends the statement
        ("The final answer is 1,000,000.", "1,000,000"),  # thousands separators survive
        ("The answer is $\\frac{1}{2}$ dollars.", r"\frac{1}{2}"),  # the formula, not the unit word
        ("To answer this, compute 4 + 4 = 8.\nThe answer is 8", "8"),  # "To answer this" is no marker
        ("Final answer: -3", "-3"),  # a sign survives
        ("The answer is x^2+1 since we expanded", "x^2+1"),  # "since" starts an explanation
        # boxes beat markers and patterns
        (r"The answer is 9. \boxed{10}", "10"),  # a box beats a stated answer
        (r"Answer: 5" + "\n" + r"\boxed{6}", "6"),  # even an earlier-looking marker line
        # think / answer tags
        ("<think>3 + 4 = 8?</think>The answer is 7.", "7"),  # only the part after </think> counts
        ("<think>maybe \\boxed{8}</think>\\boxed{7}", "7"),  # a box inside the reasoning is not final
        ("<think>so \\boxed{8}</think>I am not sure.", "I am not sure."),  # reasoning boxes never count
        ("<think>long reasoning 3 + 4 = 7", None),  # thinking never closed: no final answer
        ("<answer>12</answer>", "12"),  # an answer tag, bare content
        ("<answer>\\boxed{12}</answer>", "12"),  # a box inside the tag
        ("<answer>The answer is 12.</answer>", "12"),  # a marker inside the tag
        ("<answer>1</answer> then <answer>2</answer>", "2"),  # the last tag
        ("reasoning\n<answer>\n\\frac{1}{2}\n</answer>", r"\frac{1}{2}"),  # multi-line tag content
        ("blah</think>12", "12"),  # a bare answer after </think>
        # bare answers
        ("42", "42"),  # a bare answer is taken whole
        (r"\frac{1}{2}", r"\frac{1}{2}"),  # bare LaTeX
        ("x = 3", "x = 3"),  # a bare assignment (normalisation takes the value)
        ("  7  ", "7"),  # surrounding whitespace
        ("", None),  # nothing at all
        ("   \n  ", None),  # only whitespace
        ("Let me think.\n3 + 4 = 7\nso 7", None),  # several lines, no marker: no answer
        ("Step 1: 2 + 2 = 4.\nStep 2: 4 * 3 = 12.", None),  # intermediate results are never taken
        ("x" * 201, None),  # one line but longer than a bare answer
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text, mode="strict") == expected  # the stated-answer rules


@pytest.mark.parametrize(
    "text, patterns, expected",
    [
        ("The result is 12.", [r"result is\s*(\S+?)\.?$"], "12"),  # a configured pattern, first group
        ("x = 3 so\nRESULT 5\n", [r"^RESULT\s*(.+)$"], "5"),  # line anchors work (MULTILINE)
        ("RESULT 1\nRESULT 2", [r"^RESULT\s*(.+)$"], "2"),  # the last match wins
        (r"The result is 9. \boxed{10}", [r"result is (\d+)"], "10"),  # a box beats every pattern
        ("nothing\nhere", [r"result is (\d+)"], None),  # no match: no answer
        ("Final: 8\nok", [r"nope (\d)", r"Final: (\d)"], "8"),  # the first pattern that matches is used
        ("#### 72\nthanks", [r"####\s*(\S+)"], "72"),  # GSM8K-style answer line
        ("Result 3\nAnswer: 4", [r"Result (\d)"], "3"),  # a configured pattern beats built-in markers
        ("value: 15\nend", [r"value: \d+"], "value: 15"),  # no group: the whole match
    ],
)
def test_extract_answer_patterns(text, patterns, expected):
    assert extract_answer(text, patterns) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I think it's B", "B"),  # a letter in prose
        ("Looking at the options, it is (D).", "D"),  # "it is (D)"
        ("Answer: (C)", "(C)"),  # an answer line keeps its parentheses; normalisation reads the letter
        ("The correct option is A.", "A"),  # "option is A"
        ("A and B are wrong, so the choice is C", "C"),  # the last stated choice
        ("(A) is tempting but (B) is right.\n", "B"),  # parenthesised letters: the last one
        ("reasoning...\nE\n", "E"),  # a letter alone on its line
        ("A train leaves at noon.\nIt arrives late.", None),  # "A" as an article is not a choice
        (r"\boxed{D}", "D"),  # a box beats everything
        ("Hmm.\nI would say it's K", None),  # only A-J are choice letters
    ],
)
def test_extract_choice_letters(text, expected):
    assert extract_answer(text, choices=True) == expected


def test_choice_letters_only_with_a_choice_gold():
    assert extract_answer("Hmm.\nI think it's B") is None  # without a letter gold, prose is not an answer


def test_extraction_is_linear_on_huge_responses():
    import time

    text = "\\boxed{" * 20_000 + "step 1 = 2\n" * 10_000 + "The answer is 5."
    started = time.monotonic()
    assert extract_answer(text) == "5"  # no box closes: the marker decides
    assert time.monotonic() - started < 2.0
