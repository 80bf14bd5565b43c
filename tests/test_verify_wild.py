"""The verifier on our corpus of answers written the way real models write them (`verifier_cases.py`),
in both extraction modes, plus the tables of how each answer was found."""

from __future__ import annotations

import pytest
from verifier_cases import CATEGORIES

from filters import Status, VerifyConfig, verify

LENIENT, STRICT = VerifyConfig(extraction="lenient"), VerifyConfig(extraction="strict")

CASES = [
    pytest.param(gold, response, lenient, strict, id=f"{category}-{index}")
    for category, rows in CATEGORIES.items()
    for index, (gold, response, lenient, strict) in enumerate(rows)
]


@pytest.mark.parametrize("gold, response, lenient, strict", CASES)
def test_wild_case_lenient(gold, response, lenient, strict):
    verdict = verify(gold, response, LENIENT)
    assert verdict.status is lenient, verdict


@pytest.mark.parametrize("gold, response, lenient, strict", CASES)
def test_wild_case_strict(gold, response, lenient, strict):
    verdict = verify(gold, response, STRICT)
    assert verdict.status is strict, verdict


C, W, U = Status.CORRECT, Status.INCORRECT, Status.CANNOT_TELL


@pytest.mark.parametrize(
    "gold, response, expected",
    [
        ("Yes", "yes", C),  # a two-letter answer in words is still a words answer
        ("No", "Yes", W),  # ... and the other one is wrong, not "cannot tell"
        (r"\text{No solution}", "no solution", C),  # a bare phrase stays bare in lenient mode
        (r"0.\overline{3}", r"\frac{1}{3}", C),  # a repeating decimal is exact
        (r"0.1\overline{6}", "1/6", C),  # with a fixed part before the cycle
        (r"0.\overline{3}", "0.34", W),  # and is not a rounded decimal
        ("7", r"\textbf{Answer:} 7", C),  # a marker inside a LaTeX emphasis
        ("90", r"\frac{\pi}{2}", W),  # degrees and radians are not one number
        ("3", "The answer is $3$ or $4$", W),  # a hedge between two formulas
        ("5", "Therefore $a + b = 4$.", W),  # a labelled closing value that is wrong
        # ... and not read as 4 either (verifier 0.4): an expression's `=` is an equation, not a label (a number
        # gold is never matched by an equation ending in it; the question "find a + b" is not seen here).
        ("4", "Therefore $a + b = 4$.", W),
        ("B", "Answer: (B) 12", C),  # a choice with the option's value after it
        ("x^2+1", "x²+1", C),  # a Unicode superscript
        (r"2\frac{1}{2}", "2½", C),  # a vulgar fraction in a mixed number
        ("5/2", "2¼", W),  # ... and a different one
        ("a=2, b=3, c=4", "a=2, b=4, c=3", W),  # a labelled system: names must match their values
        ("a=2, b=3, c=4", "(2, 3, 4)", C),  # ... and in the order of the names
        ("(1,-2)", "x = -2, y = 1", W),  # a pair read by its names, not as a set of values
        ("2, 5", "x_2 = 5, x_1 = 2", C),  # roots named by subscripts stay an unordered list
        ("1, 2, 3", "1, 2 and 3", C),  # "and" before the last item
        ("C", "Option C is correct.", C),  # a capitalised choice word
        ("y = -x + 3", "x + y = 3", C),  # two equations of one line
        ("y = -x + 3", "x + y = 4", W),  # ... and of another
        ("72", "Jibu: 72", C),  # Swahili answer line
        ("72", "คำตอบ: 72", C),  # Thai answer line
        ("72", "সে ৭২টি আপেল পেয়েছে।\nউত্তর: ৭২", C),  # Bengali answer line and Bengali digits
        ("72", "సమాధానం: 27", W),  # Telugu answer line, wrong value
        ("3.5", "答：３．５元", C),  # full-width digits and point from a CJK model
        ("0.5", "５０％", C),  # a full-width percent
    ],
)
def test_answers_in_other_styles(gold, response, expected):
    verdict = verify(gold, response, LENIENT)
    assert verdict.status is expected, verdict


@pytest.mark.parametrize(
    "response",
    [
        "She sells 9 eggs at $2 each, so she earns $\\$18$ per day.",  # a sentence with a comma is no list
        "She sells 9 eggs, so she earns 18 dollars",  # ... with or without maths in it
    ],
)
def test_strict_never_calls_a_one_line_sentence_wrong(response):
    verdict = verify("18", response, STRICT)
    assert verdict.status is U, verdict  # taken whole, it is words, not an answer: cannot tell
