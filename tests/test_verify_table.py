"""The verifier on tables of our own cases, one category per table.

Every bare-answer row is checked in both orders: the verdict must not depend on which side is the gold.
"""

from __future__ import annotations

import pytest

from filters import ExactMatch, Status, VerifyConfig, check_answer, verify

C, W, U = Status.CORRECT, Status.INCORRECT, Status.CANNOT_TELL


def _both_orders(gold: str, answer: str, expected: Status, config: VerifyConfig | None = None) -> None:
    forward, backward = check_answer(gold, answer, config), check_answer(answer, gold, config)
    assert forward.status is expected, forward
    assert backward.status is expected, f"asymmetric: {backward}"


NUMBERS = [
    ("42", "42", C),  # identical
    ("42", "42.0", C),  # a trailing zero decimal is the same value
    ("42", "42.00", C),  # more trailing zeros
    ("5", "05", C),  # leading zero
    ("5", "+5", C),  # explicit plus sign
    ("-5", "−5", C),  # unicode minus
    ("0", "-0", C),  # signed zero
    ("68", "-68", W),  # a sign error is wrong
    ("68", "86", W),  # swapped digits
    ("12", "13", W),  # off by one
    ("1000000", "1000001", W),  # large, off by one
    ("123456789012345678901234567890", "123456789012345678901234567891", W),  # beyond float precision
    ("123456789012345678901234567890", "123456789012345678901234567890", C),  # big integers exactly
    ("0.1", "0.10", C),  # trailing zero after the point
    ("0.5", ".5", C),  # no leading zero
    ("1/2", "0.5", C),  # a terminating decimal equals the fraction exactly
    ("1/2", r"\frac{1}{2}", C),  # a fraction in two notations
    ("1/2", r"\dfrac{1}{2}", C),  # \dfrac
    ("1/2", r"\tfrac{1}{2}", C),  # \tfrac
    ("1/2", r"\frac12", C),  # brace-less \frac
    ("2/4", "1/2", C),  # unreduced fraction
    ("-10/9", r"-\frac{10}{9}", C),  # sign outside the fraction
    ("-10/9", r"\frac{-10}{9}", C),  # sign inside the numerator
    ("-10/9", "10/-9", C),  # sign in the denominator
    ("25/11", r"\frac{25}{11}", C),  # algebra-set style gold
    ("2/3", "3/2", W),  # inverted fraction
    ("1/3", "0.333", W),  # an exact gold is never matched with tolerance
    ("1/3", "0.3333333333", W),  # not even a very close decimal
    ("2/3", "0.67", W),  # a rounded decimal of an exact fraction
    ("1/2", r"\frac{1}{0}", W),  # division by zero is no value, and certainly not the gold
    ("5/2", "2 1/2", C),  # a mixed number
    ("5/2", r"2\frac{1}{2}", C),  # a LaTeX mixed number
    ("-5/2", r"-2\frac{1}{2}", C),  # a negative mixed number
    ("3/2", r"2\frac{1}{2}", W),  # the mixed number is 5/2, not 2 * 1/2
    ("7", r"\frac{14}{2}", C),  # a fraction that is an integer
]

SEPARATORS_AND_SIGNS = [
    ("1275", "1,275", C),  # thousands separator
    ("7425000", "7,425,000", C),  # several separators
    ("7425000", "7{,}425{,}000", C),  # LaTeX thousands separator
    ("7425000", r"7\,425\,000", C),  # thin-space separator
    ("1000", "1 000", C),  # a plain space separator
    ("1234.5", "1,234.5", C),  # separator and decimals
    ("1275", "1,2,75", W),  # commas that are not thousands separators make a list
    ("65", r"\$65", C),  # currency sign (LaTeX)
    ("65", "$65", C),  # currency sign (plain)
    ("65", "65 dollars", C),  # a trailing unit word
    ("1250.50", r"\$1,250.50", C),  # currency, separator and cents
    ("-5", "-$5", C),  # a sign before the currency
    ("-5", "$-5", C),  # a sign after the currency
    ("20", "€20", C),  # euro
    ("20", "£20", C),  # pound
    ("30", r"30 \text{ km}", C),  # a unit in \text{}
    ("30", r"30\text{km}", C),  # a glued unit in \text{}
    ("12", "12 cm", C),  # unit word
    ("12", "12cm", C),  # a glued common unit
    ("9", r"9 \text{ m}^2", C),  # squared unit
    ("60", "60 km/h", C),  # compound unit
    ("5", "5 min", C),  # minutes are a unit, not min()
    ("3", "3 apples", C),  # a counted noun
    ("5", "5x", W),  # a variable is not a unit
    ("5", "5 x", W),  # even with a space
    ("2", "2 pi", W),  # `pi` is a value, not a unit
    ("30", r"30^\circ", C),  # degrees
    ("30", r"30^{\circ}", C),  # degrees, braced
    ("30", "30°", C),  # the degree sign
    ("45", r"45^\circ", C),  # degrees again
    ("45", r"46^\circ", W),  # a different angle
]

PERCENT_AND_SCIENTIFIC = [
    ("50", r"50\%", C),  # a gold that dropped the percent sign
    ("0.5", r"50\%", C),  # the percent as a value
    ("50", "50%", C),  # plain percent sign
    ("50", "50 percent", C),  # the word
    ("25", r"25\%", C),  # another percent
    ("0.25", "25%", C),  # percent as a fraction
    ("0.3", r"50\%", W),  # neither reading matches
    (r"12.5\%", "0.125", C),  # decimals in a percent
    (r"12.5\%", "12.5%", C),  # both sides percent
    ("3.54e-07", "0.000000354", C),  # e-notation
    ("3.54e-07", "3.54E-7", C),  # capital E
    (r"3.54\times10^{-7}", "3.54e-07", C),  # \times 10^
    (r"3.54 \times 10^{-7}", r"3.54\cdot 10^{-7}", C),  # \cdot 10^
    (r"6.02\times 10^{23}", "602000000000000000000000", C),  # Avogadro written out
    (r"1.5\times10^{3}", "1500", C),  # small exponent
    (r"2\times10^{5}", "200000", C),  # integer mantissa
    (r"3.54\times10^{-7}", r"3.54\times10^{-8}", W),  # the exponent matters
    ("1e5", "100000", C),  # e-notation integer
    ("1e5", "10000", W),  # off by a power of ten
]

ROUNDING = [
    ("3.14", "3.1416", C),  # a decimal gold rounded to 2 places
    ("3.1416", "3.14", C),  # either order
    ("2.72", "2.71828", C),  # e rounded
    ("0.33", "0.333", C),  # two decimals, three significant digits agree
    ("1.41", "1.4142", C),  # sqrt 2 rounded
    ("2.0", "2.04", W),  # rounds to 2.0 but is 2 % away
    ("0.5", "0.49", W),  # rounds to 0.5 but is 2 % away
    ("3.14", "3.15", W),  # same precision: must be equal
    ("3.14", "3.145", W),  # the midpoint: the rounding direction is unknown, so no match
    ("3.14", "3.1449", C),  # rounds down to 3.14
    ("3.14", r"\pi", W),  # an exact value never meets a decimal with tolerance
    ("1.41", r"\sqrt{2}", W),  # nor does a surd
    ("100.5", "100.49", C),  # close to a large value
    ("-0.33", "-0.333", C),  # negatives round the same way
    ("0.33", "-0.333", W),  # the sign still matters
]

SYMBOLIC = [
    (r"\sqrt{2}/2", r"\frac{1}{\sqrt{2}}", C),  # rationalised forms agree
    (r"\frac{\sqrt{2}}{2}", r"\frac{\sqrt2}{2}", C),  # brace-less \sqrt
    (r"2\sqrt{3}", r"\sqrt{12}", C),  # simplified surd
    (r"\sqrt{2}", r"\sqrt{3}", W),  # different surds
    (r"\sqrt{4}", "2", C),  # a surd that is an integer
    (r"2\pi", r"\pi \cdot 2", C),  # commuted product
    (r"\frac{\pi}{6}", r"\pi/6", C),  # two fraction notations with pi
    (r"\frac{\pi}{6}", r"\frac{\pi}{3}", W),  # a different multiple of pi
    (r"x^2 - 1", r"(x-1)(x+1)", C),  # factored vs expanded
    (r"x^2+2x+1", r"(x+1)^2", C),  # a square
    (r"x^2+2x+1", r"(x-1)^2", W),  # a sign inside the square
    (r"\frac{x}{2}", "0.5x", C),  # a decimal coefficient is exact
    (r"\frac{x}{10}", "0.1x", C),  # 0.1 is 1/10, not its float
    (r"1 - \frac{1}{e}", r"1 + \frac{1}{e}", W),  # close values, different exact values
    (r"\frac{1}{2004!}", r"\frac{1}{2006!}", W),  # both tiny, still different
    (r"\frac{1}{2004!}", r"\frac{2005 \cdot 2006}{2006!}", C),  # the same tiny value
    (r"e^{i\pi}", "-1", C),  # Euler's identity
    (r"\sin^2 x + \cos^2 x", "1", C),  # a trigonometric identity
    (r"\sin(\pi)", "0", C),  # an unevaluated zero
    (r"\log_2 8", "3", C),  # a logarithm that is an integer
    (r"\ln(e^2)", "2", C),  # natural logarithm
    (r"|x|", "x", W),  # differ for negative x
    (r"\sqrt{x^2}", "x", W),  # differ for negative x
    (r"\frac{a+b}{2}", r"\frac{b+a}{2}", C),  # commuted sum
    (r"a^2 b", r"b a^2", C),  # commuted product with powers
    (r"2^{10}", "1024", C),  # a power
    (r"2^{10}", "1023", W),  # off by one
    (r"\binom{5}{2}", "10", C),  # binomial coefficient
    (r"5!", "120", C),  # factorial
    (r"\frac{3}{4}\pi", r"\frac{3\pi}{4}", C),  # where the pi goes
    (r"\left(\frac{1}{2}\right)^2", r"\frac{1}{4}", C),  # \left( \right)
    (r"10^{-3}", "0.001", C),  # negative power
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}", C),  # another rationalisation
    (r"\tan(\pi/4)", "1", C),  # an evaluated trigonometric value
    (r"\cos(\pi/3)", "1/2", C),  # against a plain fraction
    (r"\cos(\pi/3)", "0.5", C),  # against a terminating decimal
    (r"\cos(\pi/3)", "0.6", W),  # against a wrong decimal
    (r"2x + 3", r"3 + 2x", C),  # a linear expression
    (r"2x + 3", r"2x - 3", W),  # a sign
    (r"\frac{1}{x}", r"x^{-1}", C),  # negative exponent
    (r"\frac{x^2-4}{x-2}", "x+2", C),  # equal where both are defined
    (r"\sqrt[3]{27}", "3", C),  # cube root
    (r"\infty", r"\infty", C),  # infinity itself
    (r"\infty", r"-\infty", W),  # the other infinity
]

COMPLEX = [
    ("3+4i", "4i+3", C),  # order of terms
    ("3+4i", "3-4i", W),  # conjugate
    ("i^2", "-1", C),  # i is the imaginary unit
    ("2i", r"\sqrt{-4}", C),  # square root of a negative
    ("1+i", r"\frac{2}{1-i}", C),  # division by a complex number
    ("-i", r"\frac{1}{i}", C),  # 1/i
    ("5", "|3+4i|", C),  # modulus
]

INTERVALS_AND_INEQUALITIES = [
    ("(1, 2]", "(1,2]", C),  # spacing inside an interval
    ("(1, 2]", "(1, 2)", W),  # the closed end matters
    ("[1, 2]", "(1, 2)", W),  # both ends matter
    ("[1, 2)", "[1,2)", C),  # half-open
    (r"(2, \infty)", r"\left(2, \infty\right)", C),  # \left( \right)
    (r"(-\infty, 2)", r"(-\infty, 3)", W),  # a different endpoint
    (r"[\frac{1}{2}, 1]", "[0.5, 1]", C),  # endpoints compared by value
    (r"(2, \infty)", "x > 2", C),  # an inequality is the set it describes
    (r"[2, \infty)", r"x \ge 2", C),  # a non-strict inequality
    (r"[2, \infty)", "x > 2", W),  # strictness matters
    (r"(-1, 3]", r"-1 < x \le 3", C),  # a chained inequality
    (r"(-\infty, 1) \cup (2, \infty)", r"(-\infty,1)\cup(2,\infty)", C),  # a union of intervals
    (r"(-\infty, 1) \cup (2, \infty)", r"(2, \infty) \cup (-\infty, 1)", C),  # union order
    (r"(-\infty, 1) \cup (2, \infty)", "x < 1 or x > 2", C),  # a union as a disjunction
    (r"(-\infty, 1) \cup (2, \infty)", r"(-\infty, 1] \cup (2, \infty)", W),  # one closed end
    ("x > 2", "2 < x", C),  # the same inequality written backwards
    ("x > 2", "x < 2", W),  # the other side
    (r"x \in [0, 1]", "[0, 1]", C),  # membership
    (r"\mathbb{R}", r"(-\infty, \infty)", C),  # all reals
    (r"\emptyset", r"\{\}", C),  # the empty set
]

SETS_TUPLES_LISTS = [
    (r"\{1, 2, 3\}", r"\{3, 2, 1\}", C),  # set order does not matter
    (r"\{1, 2, 3\}", r"\{1, 2\}", W),  # a missing element
    (r"\{1, 2\}", r"\{1, 2, 2\}", C),  # repeats in a set are one element
    (r"\{\frac{1}{2}, 3\}", r"\{3, 0.5\}", C),  # elements compared by value
    ("1, 2", "2, 1", C),  # a bare list of solutions: order does not matter
    ("1, 2", "1, 3", W),  # a wrong solution
    ("1, 2", r"\{1, 2\}", C),  # a bare list against a set
    ("2, -2", r"\pm 2", C),  # plus-minus is two solutions
    ("3, 5", "5, 3, 7", W),  # an extra solution
    ("(1, 2)", "(1, 2)", C),  # a tuple
    ("(1, 2)", "(2, 1)", W),  # tuple order matters
    ("(1, 2, 3)", "(1, 2, 3)", C),  # a triple
    ("(1, 2, 3)", "(1, 3, 2)", W),  # triple order matters
    ("(3, -1)", "(3,-1)", C),  # an ordered pair with a negative
    ("(3, -1)", "(5, -2)", W),  # a different point (a reversed interval would be empty: not a match)
    (r"(\frac{1}{2}, 3)", "(0.5, 3)", C),  # tuple elements by value
    (r"\left(1, 2\right)", "(1,2)", C),  # \left( \right) around a tuple
    (r"\langle 1, 2 \rangle", "(1, 2)", C),  # a vector in angle brackets
    ("(1, 2)", r"\{1, 2\}", W),  # a tuple is not a set
    ("[1, 2, 3]", "[1, 2, 3]", C),  # a list in brackets
    ("(1, 2)", "1, 2", C),  # a bare list against a tuple: read in order
    ("(1, 2)", "2, 1", W),  # and order still matters then
    (r"\{5\}", "5", C),  # a single-element set and its element
    (r"(\sqrt{2}, \pi)", r"(\frac{2}{\sqrt{2}}, \pi)", C),  # symbolic elements
    (r"(\sqrt{2}, \pi)", r"(\sqrt{2}, 2\pi)", W),  # one symbolic element differs
    ("1, 2, and 3", "1, 2, 3", C),  # "and" in a list
]

MATRICES = [
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{bmatrix}1&2\\3&4\end{bmatrix}", C),  # brackets style
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{pmatrix}1&2\\4&3\end{pmatrix}", W),  # swapped entries
    (r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix}1&2\end{pmatrix}", W),  # column vs row
    (
        r"\begin{pmatrix}\frac{1}{2}&0\\0&1\end{pmatrix}",
        r"\begin{pmatrix}0.5&0\\0&1\end{pmatrix}",
        C,
    ),  # values
    (r"\begin{pmatrix}x&1\end{pmatrix}", r"\begin{pmatrix}x&1\end{pmatrix}", C),  # symbols inside
]

EQUATIONS = [
    ("x = 3", "3", C),  # an assignment's value
    ("3", "x=3", C),  # either order
    ("y = 2x + 1", "2x + 1", C),  # a function's right-hand side
    ("y = 2x + 1", "y = 1 + 2x", C),  # the same line
    ("y = 2x + 1", "y = 2x - 1", W),  # a different line
    ("x + y = 3", "y + x = 3", C),  # commuted sides
    ("2x + 2y = 6", "x + y = 3", C),  # a multiple of the same relation
    ("x + y = 3", "x - y = 3", W),  # a different relation
    ("x^2 + y^2 = 1", "y^2 + x^2 - 1 = 0", C),  # moved to one side
    ("f(x) = 2x", "2x", C),  # a function definition's body
    ("x = 3", "x = 4", W),  # a different value
    ("33", "13 + 20 = 33", C),  # a worked equation without variables states its value last
    ("36", "19 + 17 = 26", W),  # ... and a wrong value is wrong
    (r"\frac{5}{6}", r"\frac{1}{2} + \frac{1}{3} = \frac{5}{6}", C),  # worked fractions
    ("2", "x + 1 = 3", W),  # an equation in a variable is not its solution
    ("3", "x + 1 = 3", W),  # ... nor its right side: only a name's `=` gives a value
    ("12", "2x + 3y = 12", W),  # a relation among variables is not its constant
    ("25", "x^2 + y^2 = 25", W),  # a circle is not r²
    (r"x = \frac{1}{2}", "0.5", C),  # an assignment with a fraction
]

EXACT_WORDS_AND_CHOICES = [
    ("yes", "Yes.", C),  # case and a final period
    ("Tuesday", r"\text{Tuesday}", C),  # text wrapper
    ("no solution", "No Solution", C),  # several words
    ("blue", "red", W),  # different words
    ("abc", "cba", W),  # words are not products of symbols
    ("B", "B", C),  # a choice letter
    ("B", "(B)", C),  # parenthesised
    ("B", r"\text{(B)}", C),  # in a text wrapper
    ("B", "C", W),  # a different choice
    ("(D)", "D", C),  # a parenthesised gold
]


@pytest.mark.parametrize(
    "gold, answer, expected",
    NUMBERS
    + SEPARATORS_AND_SIGNS
    + PERCENT_AND_SCIENTIFIC
    + ROUNDING
    + SYMBOLIC
    + COMPLEX
    + INTERVALS_AND_INEQUALITIES
    + SETS_TUPLES_LISTS
    + MATRICES
    + EQUATIONS
    + EXACT_WORDS_AND_CHOICES,
)
def test_equivalence(gold, answer, expected):
    _both_orders(gold, answer, expected)


@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        ("3.14", "3.1416", W),  # rel_tol=0: two decimals must be equal
        ("0.33", "0.333", W),  # no rounding at all
        ("0.5", "1/2", C),  # exact values are unaffected
    ],
)
def test_rounding_can_be_turned_off(gold, answer, expected):
    _both_orders(gold, answer, expected, VerifyConfig(rel_tol=0.0))


@pytest.mark.parametrize(
    "gold, answer, expected, reason",
    [
        ("12", "", U, "unparseable_answer"),  # an empty answer
        ("", "12", U, "unparseable_gold"),  # an empty gold
        ("5", "The sum is 5", U, "unparseable_answer"),  # a sentence, not an answer: cannot tell
        ("60", "10 times 6 is 60", U, "unparseable_answer"),  # words around numbers are not maths
        ("40", "indeed 40", U, "unparseable_answer"),  # a filler word left by "the answer is indeed 40"
        (r"\sin x", r"\sin x + 0", C, "equal_value"),  # function names are maths, not prose
        ("5", r"\frac{", U, "unparseable_answer"),  # broken LaTeX
        (r"\frac{", "5", U, "unparseable_gold"),  # a broken gold is never "wrong"
        ("5", "x" * 1001, U, "answer_too_long"),  # not worth reading
        ("x" * 1001, "5", U, "gold_too_long"),  # nor is such a gold
        ("1/2", r"\frac{2}{4}", C, "equal_value"),  # a value match reports its reason
        ("x = 3", "3", C, "exact_match"),  # exact match first
    ],
)
def test_reasons(gold, answer, expected, reason):
    verdict = check_answer(gold, answer)
    assert (verdict.status, verdict.reason) == (expected, reason)


@pytest.mark.parametrize(
    "gold, response, expected, reason",
    [
        ("7", r"3 + 4 = 7, so \boxed{7}", C, "exact_match"),  # boxed and right
        ("7", r"First 3 + 4 = 12. Then \boxed{7}", C, "exact_match"),  # an intermediate "= 12" never wins
        ("7", r"so \boxed{8}", W, "wrong_answer"),  # boxed and wrong
        ("7", "I think it is 7\nbut unsure", U, "no_answer"),  # no marker: cannot tell, never "wrong"
        ("7", "The final answer is 7.", C, "exact_match"),  # a marker sentence
        ("7", "3 + 4 = 7\nAnswer: 8", W, "wrong_answer"),  # the stated answer, not the working
        ("7", r"\boxed{7} or \boxed{8}", W, "wrong_answer"),  # a hedge never passes
        ("2, 3", r"x = \boxed{2}, \boxed{3}", C, "exact_match"),  # boxes on one line answer together
        ("3", "\\boxed{2}\nWait, that is wrong.\n\\boxed{3}", C, "exact_match"),  # a later box revises
        ("B", "Let me see.\nI think it's B", C, "exact_match"),  # a choice letter in prose
        ("B", "Let me see.\nAnswer: (C)", W, "wrong_answer"),  # the wrong choice
        ("B", "Clearly the answer is B because A fails", C, "exact_match"),  # a letter and its reason
        ("73", "The answer is **73**.", C, "exact_match"),  # markdown emphasis
        ("12", "<think>3 * 4 = 13</think>The answer is 12", C, "exact_match"),  # after </think>
        ("12", "<think>The answer is 12", U, "no_answer"),  # unfinished thinking
        ("12", "<answer>12</answer>", C, "exact_match"),  # answer tags
        ("1/2", r"\boxed{\frac{1}{2}}", C, "equal_value"),  # gold "1/2", boxed LaTeX
        (r"\boxed{5}", "The answer is 5", C, "exact_match"),  # a gold kept in a box
        ("5", r"\boxed{}", U, "no_answer"),  # an empty box states nothing
    ],
)
def test_verify_response(gold, response, expected, reason):
    verdict = verify(gold, response)
    assert (verdict.status, verdict.reason) == (expected, reason)


@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        ("42", "$42$", C),  # math delimiters
        ("42", r"\(42\)", C),  # inline delimiters
        ("42", r"\[42\]", C),  # display delimiters
        ("yes", "YES", C),  # case
        ("yes", "yes.", C),  # a final period
        (r"\text{blue}", "blue", C),  # \text{}
        (r"\textbf{blue}", "blue", C),  # \textbf{}
        (r"\mathrm{blue}", "blue", C),  # \mathrm{}
        (r"$\text{\textbf{5}}$", "5", C),  # nested wrappers
        (r"\frac{1}{2}", r"\dfrac{1}{2}", C),  # \dfrac is \frac
        (r"\frac{1}{2}", r"\frac{1}{2}", C),  # identical
        ("x = 3", "3", C),  # an assignment's value
        ("**7**", "7", C),  # markdown emphasis
        ("a  b", "a b", C),  # runs of spaces
        (r"1\,000", "1 000", C),  # LaTeX spacing as a space
        (r"\left(1, 2\right)", "(1, 2)", C),  # sizing commands
        ("blue", "red", W),  # different words
        ("12", "13", W),  # different numbers
        ("1/2", "0.5", W),  # exact match does not compute values
    ],
)
def test_exact_match(gold, answer, expected):
    assert ExactMatch().check(gold, answer).status is expected
