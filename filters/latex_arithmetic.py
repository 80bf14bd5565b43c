"""A small, fast reader for the LaTeX most answers are written in: arithmetic, powers, roots, fractions,
π, single-letter variables, one relation or a chain of two, and intervals.

latex2sympy2_extended reads everything, but its ANTLR grammar costs about 10 ms per answer in Python
(measured here, warm); this reader builds the same sympy objects in well under a millisecond. Anything
outside its subset returns None and goes to latex2sympy2_extended, so it only ever speeds things up.
`tests/test_verify_safety.py` checks that both readers agree on every expression this reader accepts.
Objects are built with sympy's constructors from matched tokens; no text is evaluated.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import sympy

_TOKEN = re.compile(
    r"\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d{1,3}(?!\d))?|\.\d+|\\[A-Za-z]+|\\[{}]|[A-Za-z]|[-+*/^(){}\[\]!,<>=])"
)
_CONSTANTS = {"\\pi": sympy.pi, "\\infty": sympy.oo, "e": sympy.E, "i": sympy.I}
_PRODUCT = {"*", "\\cdot", "\\times"}
_RELATIONS = {
    "<": sympy.StrictLessThan,
    ">": sympy.StrictGreaterThan,
    "\\le": sympy.LessThan,
    "\\leq": sympy.LessThan,
    "\\ge": sympy.GreaterThan,
    "\\geq": sympy.GreaterThan,
    "=": sympy.Eq,
}
_MAX_DEPTH = 60


class _Unsupported(Exception):
    pass


def parse_arithmetic(text: str) -> Any:
    """The sympy object for `text`, or None when it is outside this reader's subset."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    try:
        reader = _Reader(tokens)
        result = reader.answer()
        return result if reader.done() else None
    except (_Unsupported, RecursionError, ZeroDivisionError, TypeError, ValueError):
        return None


def _tokens(text: str) -> list[str] | None:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            return None
        token = match.group(1)
        if tokens and _is_letter(tokens[-1]) and (_is_letter(token) or token == "("):
            return None  # a word (`or`, `cm`) or a function call (`f(x)`): latex2sympy2_extended decides
        if tokens and tokens[-1][0].isdigit() and (token == "\\frac" or token[0].isdigit()):
            return None  # `2\frac{1}{2}` and `2 1/2` are mixed numbers, not products
        tokens.append(token)
        position = match.end()
    return tokens


def _is_letter(token: str) -> bool:
    return len(token) == 1 and token.isalpha()


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported(expected)
        self.position += 1
        return token

    def done(self) -> bool:
        return self.position == len(self.tokens)

    def answer(self) -> Any:
        if self.peek() in ("(", "[") and "," in self.tokens:
            return self.interval()
        left = self.expression()
        relations = []
        while self.peek() in _RELATIONS:
            relation = _RELATIONS[self.take()]
            right = self.expression()
            pair = (left, right)
            relations.append(relation(*pair, evaluate=False) if relation is sympy.Eq else relation(*pair))
            left = right
        if len(relations) > 2 or (len(relations) == 2 and sympy.Eq in (type(r) for r in relations)):
            raise _Unsupported("relation chain")
        return relations[0] if len(relations) == 1 else sympy.And(*relations) if relations else left

    def interval(self) -> Any:
        left_open = self.take() == "("
        start = self.expression()
        self.take(",")
        end = self.expression()
        closing = self.take()
        if closing not in (")", "]"):
            raise _Unsupported("interval end")
        if (start > end) is sympy.true:
            raise _Unsupported("a reversed pair is a point, not an interval")
        return sympy.Interval(start, end, left_open, closing == ")")

    def expression(self) -> Any:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Unsupported("too deep")
        terms = [self.signed()]
        while self.peek() in ("+", "-"):
            sign = self.take()
            term = self.term()
            terms.append(term if sign == "+" else -term)
        self.depth -= 1
        return sympy.Add(*terms)

    def signed(self) -> Any:
        if self.peek() == "-":
            self.take()
            return -self.term()
        if self.peek() == "+":
            self.take()
        return self.term()

    def term(self) -> Any:
        value = self.power()
        while True:
            token = self.peek()
            if token in _PRODUCT:
                self.take()
                value = value * self.power()
            elif token == "/":
                self.take()
                value = value / self.power()
            elif token is not None and self._starts_atom(token):
                value = value * self.power()  # implicit product: 2x, 3\sqrt{2}, (x+1)(x+2)
            else:
                return value

    @staticmethod
    def _starts_atom(token: str) -> bool:
        return (
            token[0].isdigit()
            or token[0] == "."
            or token.isalpha()
            or token in ("(", "{", "\\frac", "\\sqrt")
            or token in _CONSTANTS
        )

    def power(self) -> Any:
        base = self.atom()
        if self.peek() == "!":
            self.take()
            base = sympy.factorial(base)
        if self.peek() == "^":
            self.take()
            if self.peek() == "-":  # x^-1
                self.take()
                return sympy.Pow(base, -self.atom())
            return sympy.Pow(base, self.atom())  # `2^10` is 1024, as latex2sympy2_extended reads it
        return base

    def atom(self) -> Any:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            value = Fraction(token)
            return sympy.Rational(value.numerator, value.denominator)
        if token in _CONSTANTS:
            return _CONSTANTS[token]
        if token.isalpha() and len(token) == 1:
            return sympy.Symbol(token.lower())
        if token in ("(", "{"):
            inner = self.expression()
            self.take(")" if token == "(" else "}")
            return inner
        if token == "\\frac":
            numerator = self.group()
            return numerator / self.group()
        if token == "\\sqrt":
            if self.peek() == "[":
                self.take()
                index = self.expression()
                self.take("]")
                return sympy.root(self.group(), index)
            return sympy.sqrt(self.group())
        raise _Unsupported(token)

    def group(self) -> Any:
        """A braced argument, or the single token after the command (`\\frac12`, `\\sqrt3`)."""
        token = self.peek()
        if token == "{":
            return self.atom()
        if token is not None and token[0].isdigit() and "." not in token and len(token) > 1:
            self.tokens[self.position] = token[1:]
            return sympy.Integer(int(token[0]))
        return self.atom()
