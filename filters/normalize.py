"""Text normalisation shared by the verifiers, and the exact-arithmetic fast path for plain numbers.

Nothing here evaluates model text: numbers are recognised by regular expressions and built with
`fractions.Fraction` from the matched digits.
"""

from __future__ import annotations

import re
from fractions import Fraction

# Wrappers that carry no meaning for the value: \text{..}, \mathrm{..}, \mbox{..} keep their content.
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad\b|~")
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)\b\s*")
_FRAC_ALIASES = re.compile(r"\\[dt]frac\b")
_MATH_DELIMITERS = re.compile(r"^\$+|\$+$|^\\\(|\\\)$|^\\\[|\\\]$")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=\S)")
_MARKDOWN_EMPHASIS = re.compile(r"^(\*\*|__|\*|_)(.+)\1$")


def normalize_text(answer: str) -> str:
    """A canonical string form: no math delimiters, text wrappers, spacing or sizing commands."""
    text = answer.strip()
    previous = None
    while previous != text:  # wrappers nest: $\text{\textbf{5}}$
        previous = text
        text = _MARKDOWN_EMPHASIS.sub(r"\2", text)
        text = _MATH_DELIMITERS.sub("", text).strip()
        text = _TEXT_WRAPPER.sub(r"\1", text)
    text = _SPACING.sub(" ", text)
    text = _SIZING.sub("", text)
    text = _FRAC_ALIASES.sub(r"\\frac", text)
    text = text.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(".").strip()


def strip_assignment(text: str) -> str:
    """`x = 3` → `3`: the value a single-variable answer assigns."""
    return _ASSIGNMENT.sub("", text, count=1)


_UNIT_WORDS = re.compile(r"(?<=\d)\s*(?:[A-Za-z][A-Za-z .]*|°|\^\\circ|\^\{\\circ\})$")
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SEPARATED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*([+-]?\d+)")
_LATEX_FRACTION = re.compile(r"([+-]?)\\frac\s*\{\s*([+-]?\d+)\s*\}\s*\{\s*([+-]?\d+)\s*\}")
_LATEX_SHORT_FRACTION = re.compile(r"([+-]?)\\frac(\d)(\d)")

# Beyond this many characters a "number" is not worth exact arithmetic (and could be a decoy to burn CPU).
MAX_NUMBER_CHARS = 400
MAX_EXPONENT = 400


def parse_number(answer: str) -> Fraction | None:
    """The exact value of a plain numeric answer, or None when it is not one.

    Accepts integers, decimals, e-notation, `a/b`, `\\frac{a}{b}`, thousands separators, a leading
    `x =`, a currency sign, a trailing percent sign or unit word (`65 dollars`, `12 km`).

    >>> parse_number(r"\\$1,250.50")
    Fraction(2501, 2)
    """
    text = strip_assignment(normalize_text(answer))
    if len(text) > MAX_NUMBER_CHARS:
        return None
    text = text.replace(" ", "").lstrip("$").rstrip("%")
    text = text.replace("$", "") if text.startswith(("-$", "+$")) else text
    text = _UNIT_WORDS.sub("", text)
    if _SEPARATED.fullmatch(text):
        text = text.replace(",", "")
    if _PLAIN.fullmatch(text):
        exponent = text.lower().partition("e")[2]
        if exponent and abs(int(exponent)) > MAX_EXPONENT:
            return None
        return Fraction(text)
    for pattern in (_LATEX_FRACTION, _LATEX_SHORT_FRACTION):
        match = pattern.fullmatch(text)
        if match:
            sign, numerator, denominator = match.groups()
            if int(denominator) == 0:
                return None
            value = Fraction(int(numerator), int(denominator))
            return -value if sign == "-" else value
    match = _FRACTION.fullmatch(text)
    if match and int(match.group(2)) != 0:
        return Fraction(int(match.group(1)), int(match.group(2)))
    return None
