"""Plain numbers as exact rationals: the verifier's fast path, no sympy and no child process.

Numbers are recognised by regular expressions and built with `fractions.Fraction` from the matched digits;
nothing here evaluates model text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from filters.normalize import MATH_WORDS, normalize_text, strip_assignment

# Beyond this many characters a "number" is not worth exact arithmetic (and could be a decoy to burn CPU).
MAX_NUMBER_CHARS = 400
MAX_EXPONENT = 400


@dataclass(frozen=True, slots=True)
class Number:
    value: Fraction
    # Decimal places when written with a decimal point: the writer may have rounded to this many places.
    # None for integers and fractions, which are exact.
    places: int | None = None
    percent: bool = False

    def __str__(self) -> str:
        text = str(self.value) if self.places is None else f"{float(self.value):.{max(self.places, 0)}f}"
        return text + ("%" if self.percent else "")


_SIGN = r"[+-]?"
_DECIMAL = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(rf"({_SIGN}{_DECIMAL})(?:[eE]([+-]?\d+))?")
_TIMES_TEN = re.compile(
    rf"({_SIGN}{_DECIMAL})\s*(?:\\times|\\cdot|×|\*)\s*10\s*\^\s*(?:\{{\s*([+-]?\d+)\s*\}}|([+-]?\d+))"
)
_SEPARATED = re.compile(rf"{_SIGN}\d{{1,3}}(?:(?P<sep>,|\s)\d{{3}})(?:(?P=sep)\d{{3}})*(?:\.\d+)?")
# `2 450,50` and `1.234,56`: grouped thousands make the comma a decimal comma. A lone `3,5` stays a list.
_DECIMAL_COMMA = re.compile(r"([+-]?\d{1,3}(?:(?P<sep>[ .\u202f\u00a0])\d{3})(?:(?P=sep)\d{3})*),(\d+)")
_SLASH_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*([+-]?\d+)")
_LATEX_FRACTION = re.compile(r"([+-]?)\\frac\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))")
_MIXED = re.compile(
    r"([+-]?)(\d+)\s*(?:\\frac\s*(?:\{\s*(\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))|\s(\d+)\s*/\s*(\d+))"
)
_CURRENCY = re.compile(r"^([+-]?)(?:\$|€|£|¥|₹|USD|EUR|Rs\.?)\s*")
_CURRENCY_AFTER = re.compile(r"(?<=\d)\s*(?:\$|€|£|¥|₹|元|円|USD|EUR)$")
_DEGREES = re.compile(r"\s*(?:°|\^\s*\\circ|\^\s*\{\s*\\circ\s*\})\s*[CF]?$")
_PERCENT = re.compile(r"\s*(?:%|\bpercent\b|\bper cent\b)$")
# A unit after a number: any word after a space (`12 apples`, `3 hours`), or a common unit glued on (`5cm`).
# Words in any script count (`12 apples`, `12 рублей`); so do the letters of scripts without spaces glued on
# (`7页`, `3個`).
_UNIT_CHAR = r"[^\s\d!-/:-@\[-`{-~]"  # a letter (with its marks) of any script, or a non-ASCII sign
_UNIT_SPACED = re.compile(
    rf"(?<=\d)\s+(?P<unit>{_UNIT_CHAR}{{2,}}(?:\s+{_UNIT_CHAR}{{2,}})*|[mgsLhK])(?:\^\{{?\d\}}?|[²³]|/[A-Za-z]+)?$"
)
_UNIT_GLUED = re.compile(
    r"(?<=\d)(?P<unit>cm|mm|km|m|kg|g|mg|s|ms|min|h|hr|hrs|mL|ml|L|ft|in|mi|mph|kph|lb|lbs|oz"
    r"|[^\W\d_A-Za-z\u0370-\u03ff]+)(?:\^\{?\d\}?|[²³]|/[A-Za-z]+)?$"
)


def parse_number(answer: str) -> Number | None:
    """The exact value of a plain numeric answer, or None when it is not one.

    Accepts integers, decimals, `3.5e-7`, `3.5\\times10^{-7}`, `a/b`, `\\frac{a}{b}`, mixed numbers
    (`2 1/2`, `2\\frac{1}{2}`), thousands separators (`7,425,000`, `1 000`, `1{,}000`), a leading `x =`,
    a currency sign, a percent sign, degrees and a trailing unit word (`65 dollars`, `12 km`).

    >>> parse_number(r"\\$1,250.50")
    Number(value=Fraction(2501, 2), places=2, percent=False)
    """
    if len(answer) > MAX_NUMBER_CHARS:
        return None
    text = strip_assignment(normalize_text(answer)).replace("−", "-")
    percent = _PERCENT.search(text)
    if percent:
        text = text[: percent.start()]
    text = _DEGREES.sub("", text)
    text = _strip_unit(text)
    text = _CURRENCY_AFTER.sub("", text)
    currency = _CURRENCY.match(text)
    if currency:
        text = currency.group(1) + text[currency.end() :]
    if text.startswith(("$", "-$", "+$")):  # `$-5` and `-$5`
        text = text.replace("$", "", 1)
    text = text.strip()
    number = _literal(text)
    if number is None:
        return None
    return Number(number.value, number.places, bool(percent))


def _strip_unit(text: str) -> str:
    for pattern in (_UNIT_SPACED, _UNIT_GLUED):
        match = pattern.search(text)
        if match and match.group("unit").lower() not in MATH_WORDS:
            return text[: match.start()]
    return text


_REPEATING = re.compile(r"([+-]?)(\d*)\.(\d*)\\overline\s*\{(\d+)\}")


def _literal(text: str) -> Number | None:
    repeating = _REPEATING.fullmatch(text)
    if repeating:  # `0.\overline{3}` is 1/3, `0.1\overline{6}` is 1/6: exact
        sign, whole, fixed, cycle = repeating.groups()
        value = Fraction(int(whole or 0)) + Fraction(int(fixed or 0), 10 ** len(fixed))
        value += Fraction(int(cycle), 10 ** len(fixed) * (10 ** len(cycle) - 1))
        return Number(-value if sign == "-" else value)
    decimal_comma = _DECIMAL_COMMA.fullmatch(text)
    if decimal_comma:
        text = re.sub(r"[ .\u202f\u00a0]", "", decimal_comma.group(1)) + "." + decimal_comma.group(3)
    if _SEPARATED.fullmatch(text):
        text = re.sub(r"[,\s]", "", text)
    match = _PLAIN.fullmatch(text)
    if match:
        return _decimal(match.group(1), match.group(2))
    match = _TIMES_TEN.fullmatch(text)
    if match:
        return _decimal(match.group(1), match.group(2) or match.group(3))
    match = _MIXED.fullmatch(text)
    if match:
        sign, whole = match.group(1), int(match.group(2))
        numerator, denominator = (int(g) for g in _first_two(match.groups()[2:]))
        if 0 < numerator < denominator:  # `2 5/3` is not how anyone writes a mixed number
            value = whole + Fraction(numerator, denominator)
            return Number(-value if sign == "-" else value)
        return None
    match = _LATEX_FRACTION.fullmatch(text)
    if match:
        numerator, denominator = (int(g) for g in _first_two(match.groups()[1:]))
        if denominator == 0:
            return None
        value = Fraction(numerator, denominator)
        return Number(-value if match.group(1) == "-" else value)
    match = _SLASH_FRACTION.fullmatch(text)
    if match and int(match.group(2)) != 0:
        return Number(Fraction(int(match.group(1)), int(match.group(2))))
    return None


def _first_two(groups: tuple[str | None, ...]) -> list[str]:
    return [group for group in groups if group is not None][:2]


def _decimal(mantissa: str, exponent: str | None) -> Number | None:
    power = int(exponent) if exponent else 0
    if abs(power) > MAX_EXPONENT:
        return None
    _, point, fraction_digits = mantissa.partition(".")
    value = Fraction(mantissa) * Fraction(10) ** power
    return Number(value, len(fraction_digits) - power if point else None)


def numbers_match(a: Number, b: Number, rel_tol: float) -> bool:
    """Equal values, with two allowances that work the same whichever side is the gold.

    Percent: when only one side has a percent sign, `50%` matches both `50` and `0.5`.
    Rounding: between two decimals, the one written to fewer places (k) matches the other when the other
    rounds to it at k places and they agree within `rel_tol` relative to the larger (`3.14` and `3.1416`).
    A decimal is the only inexact gold; an exact value (an integer, a fraction, π) is never compared with
    tolerance, in either order, so `1/3` and `0.333` differ. `rel_tol=0` turns rounding off.
    """
    if a.percent != b.percent:
        plain, percent = (a, b) if b.percent else (b, a)
        readings = [percent, Number(percent.value / 100, _shift(percent.places, 2))]
        return any(_values_match(plain, reading, rel_tol) for reading in readings)
    return _values_match(a, b, rel_tol)


def _shift(places: int | None, digits: int) -> int | None:
    return None if places is None else places + digits


def _values_match(a: Number, b: Number, rel_tol: float) -> bool:
    if a.value == b.value:
        return True
    return _rounds_to(b, a, rel_tol) or _rounds_to(a, b, rel_tol)


def _rounds_to(precise: Number, rounded: Number, rel_tol: float) -> bool:
    if rel_tol <= 0 or rounded.places is None or precise.places is None:
        return False
    if precise.places <= rounded.places:
        return False  # two decimals of the same precision must be equal
    difference = abs(precise.value - rounded.value)
    half_unit = Fraction(1, 2) * Fraction(10) ** -rounded.places
    scale = max(abs(precise.value), abs(rounded.value))
    # Strictly inside: at the midpoint (3.145 for 3.14) the rounding direction is a convention we cannot know.
    return difference < half_unit and difference <= Fraction(rel_tol) * scale
