"""False accepts of wide reach (issue 24): an answer accepted for a gold it does not give teaches the student
a mistake. Each table holds the shapes that must stay rejected beside the true positives that must stay
accepted, and runs in both extraction modes: boxed, marked ("The answer is …", "Answer: …") and bare
answers are read alike by both.
"""

from __future__ import annotations

import pytest

from filters import Status, VerifyConfig, verify

C, W, U = Status.CORRECT, Status.INCORRECT, Status.CANNOT_TELL
MODES = [VerifyConfig(extraction="strict"), VerifyConfig(extraction="lenient")]


def _lines(*lines: str) -> str:
    return "\n".join(lines)


# Only a name's `=` gives its value: an equation whose left side is an expression is not its right side.
EQUATIONS_AGAINST_THEIR_CONSTANT = [
    ("y = 2x + 3", r"\boxed{3}", W),  # a line is not its intercept
    ("x + y + z = 1", "The answer is 1.", W),  # a plane is not its constant
    ("x^2 + y^2 = 25", "Answer: 25", W),  # a circle is not r²
    ("2x + 3y = 12", r"\boxed{12}", W),  # a relation with a number on the right
    ("2x + 3y = 12", "12", W),  # ... bare
    ("x^2 + y^2 = 25", r"The final answer is $25$.", W),  # ... after a Minerva marker
    ("xy = 6", r"\boxed{6}", W),  # a product of two symbols is no name
    ("y = x^2 - 4", r"\boxed{-4}", W),  # a parabola is not its constant term
    ("3x - 2y = 7", "Answer: $7$", W),  # a coefficient on each variable
    ("x^2 = 9", "9", W),  # a power is no name
    ("12", r"\boxed{2x + 3y = 12}", W),  # a number gold against an equation that ends in it
    ("12", "The answer is $x + 5 = 12$.", W),  # an unsolved equation is not its right side
    ("12", "Answer: x + 5 = 12", W),  # ... in plain text
    ("12", "2x = 12", W),  # a number with a symbol is no name
    ("25", r"\boxed{x^2 + y^2 = 25}", W),  # a circle for a number
    ("1", r"The final answer is $x + y + z = 1$.", W),  # a plane for a number
    ("9", r"\boxed{x^2 = 9}", W),  # a power for a number
    ("6", "xy = 6", W),  # a product for a number
    ("12", r"\boxed{-x = 12}", W),  # a negated symbol is an expression
    ("7", r"\boxed{f(x) + 1 = 7}", W),  # a function value inside an expression
    ("10", r"Answer: $\sqrt{x} = 10$", W),  # a root of a symbol
    ("4", r"Therefore the answer is $a + b = 4$.", W),  # a sum: as unsolved as x + 5 = 12
    ("7", "The answer is $x + 5 = 12$.", W),  # an equation is not its solution either
    ("x = 7", r"\boxed{x + 5 = 12}", W),  # ... nor an assignment's value: it is left unsolved
    ("y = 2x + 3", r"\boxed{2x - y + 3 = 0}", C),  # an equation gold against an equivalent equation
    ("x + y = 3", r"\boxed{x - y = 3}", W),  # ... and against another
    ("5", r"\boxed{x = 5}", C),  # a symbol's value
    ("7", r"The answer is $f(2) = 7$.", C),  # a function's value at a number
    ("40", r"Answer: $m\angle ABC = 40$", C),  # an angle's measure
    ("7", "AB = 7", C),  # a segment's length
    ("(1, 2)", r"\boxed{(x, y) = (1, 2)}", C),  # a tuple of names
    ("3", r"\boxed{a_{n} = 3}", C),  # a subscripted symbol
    (r"\frac{1}{6}", r"Answer: $P(A) = \frac{1}{6}$", C),  # a probability
    ("x = 5", r"\boxed{5}", C),  # an assignment gold against its value
    ("33", "The answer is 13 + 20 = 33.", C),  # worked arithmetic states its value last
    (r"16\pi", r"\boxed{A = \pi r^2 = 16\pi}", C),  # a chain that starts with a name
]

# The closing sentence of a response with no stated answer, which only lenient reads.
CLOSING_EQUATIONS = [
    ("12", _lines("Eliminate z first.", "So 2x + 3y = 12."), W),  # the last number of an equation in prose
    ("12", _lines("Subtract the two lines.", "We get x + 5 = 12."), W),  # ... after words
    ("2x + 3y = 12", _lines("Eliminate z first.", "So 2x + 3y = 12."), C),  # the equation as a whole
    ("12", _lines("Add them up.", "So x = 5 + 7 = 12."), C),  # a chain that starts with a name
    ("12", _lines("Multiply.", "So 3 * 4 = 12."), C),  # worked arithmetic
]

# A choice answer is the letter alone, or with its punctuation and its option's text, and nothing else.
CHOICES = [
    ("B", r"\boxed{B + C}", W),  # the letter in a sum
    ("B", "The answer is B + C.", W),  # ... after a marker
    ("B", r"\boxed{B = 3}", W),  # the letter in a relation
    ("B", r"\boxed{B^2}", W),  # ... in a power
    ("B", r"\boxed{2B}", W),  # ... in a product
    ("B", r"\boxed{\frac{B}{2}}", W),  # ... in a fraction
    ("A", "Answer: A/B", W),  # two letters over a slash
    ("A", "The answer is A or C.", W),  # a hedge
    ("C", "The answer is A or C.", W),  # ... for either letter
    ("A", "A and C", W),  # two letters joined
    ("B", "either B or D", W),  # a hedge in words
    ("B", r"\boxed{B, C}", W),  # a list of letters
    ("A", r"\boxed{(A) \text{ or } (C)}", W),  # a hedge between parenthesised letters
    ("B", "Answer: (B) + (C)", W),  # parenthesised letters in a sum
    ("C", _lines("Options A and B fail.", "Answer: C or D"), W),  # a hedge after the working
    ("A", _lines("Let me check.", "(A) or (C)"), W),  # a hedge on the closing line
    ("C", _lines("Let me check.", "I'd go with A or C."), W),  # a spoken hedge
    ("B", "B is wrong", W),  # the letter rejected
    ("B", "not B", W),  # the letter negated
    ("B", "B is incorrect, the answer is C", W),  # the letter rejected, another chosen
    ("B", "Answer: B is wrong", W),  # a rejection after a marker
    ("B", "The answer is not B.", W),  # a negated answer
    ("B", _lines("Let me check.", "(B) is wrong."), W),  # a rejection in prose
    ("B", _lines("Let me check.", "It's not (B)."), W),  # a negation in prose
    ("B", _lines("Let me check.", "We can rule out option B."), W),  # a letter ruled out
    ("B", _lines("Both fit at first.", "(A) works, but (B) fails the check."), W),  # the last letter fails
    ("B", _lines("Let me check.", "It can't be (B)."), W),  # ... or cannot be
    ("B", _lines("Let me check.", "It's (D), not (B)."), W),  # a letter set against the one chosen
    ("B", _lines("Let me check.", "I pick (D) rather than (B)."), W),  # ... in other words
    ("B", "Answer: B) 42 or C) 43", W),  # a hedge between two options with their texts
    ("D", _lines("Let me check.", "It's (D), not (B)."), C),  # the letter chosen over another
    ("B", "B", C),  # the letter alone
    ("B", "(B)", C),  # parenthesised
    ("B", "B.", C),  # with a period
    ("B", "**B**", C),  # in bold
    ("B", r"\textbf{B}", C),  # in LaTeX bold
    ("B", "Option B", C),  # named as an option
    ("B", "The answer is (B)", C),  # after a marker
    ("B", "The answer is B) 42", C),  # with its option's text
    ("B", r"\boxed{\text{(B) } 42}", C),  # boxed with its option's text
    ("B", r"\boxed{\text{(B) A square}}", C),  # an option's text that opens with the article A
    ("B", "B is the correct answer.", C),  # affirmed
    ("B", _lines("Let me check.", "(A) is tempting but (B) is right."), C),  # the last letter affirmed
]


@pytest.mark.parametrize("config", MODES, ids=lambda config: config.extraction)
@pytest.mark.parametrize("gold, response, expected", EQUATIONS_AGAINST_THEIR_CONSTANT)
def test_equations_are_not_their_constant(gold, response, expected, config):
    verdict = verify(gold, response, config)
    assert verdict.status is expected, verdict


@pytest.mark.parametrize("gold, response, expected", CLOSING_EQUATIONS)
def test_closing_equations_are_not_their_constant(gold, response, expected):
    verdict = verify(gold, response, VerifyConfig(extraction="lenient"))
    assert verdict.status is expected, verdict
    assert verify(gold, response, VerifyConfig(extraction="strict")).status is U  # strict reads no prose


@pytest.mark.parametrize("config", MODES, ids=lambda config: config.extraction)
@pytest.mark.parametrize("gold, response, expected", CHOICES)
def test_choices_are_the_letter_alone(gold, response, expected, config):
    verdict = verify(gold, response, config)
    assert verdict.status is expected, verdict
