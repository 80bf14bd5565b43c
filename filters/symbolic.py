"""The sympy side of the comparison. Runs only inside the deadline pool's child processes.

LaTeX is parsed by latex2sympy2_extended (the ANTLR grammar Math-Verify builds on; it builds sympy objects
and evaluates nothing as Python), after the same library's own normalisation (units, malformed `\\frac12`).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Any

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.math_normalization import NormalizationConfig, normalize_latex

from filters.compare import EQUAL, WRONG, NeedsSympy, Outcome, compare, plain_leaf
from filters.latex_arithmetic import parse_arithmetic
from filters.numbers import Number, numbers_match, parse_number

_NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=True, malformed_operators=True, nits=False, boxed="none", equations=False
)
# Test points for identities in free symbols: negative, fractional and away from common singularities,
# so that |x| vs x or sqrt(x^2) vs x differ at one of them.
_POINTS = tuple(sympy.Rational(p, 1000) for p in (-1371, 613, 2237, -293))
_DIGITS = 50
_IDENTICAL = sympy.Float(10) ** -40  # relative difference below which two evaluations are the same value
_FORM_CHARS = 200
_IMAGINARY = sympy.Symbol("i")


def compare_symbolic(gold: str, answer: str, rel_tol: float) -> Outcome:
    """The full comparison, with sympy for the leaves that plain numbers cannot decide."""
    return compare(gold, answer, rel_tol, _sympy_leaf)


def warm_up() -> None:
    """Loads the grammar and fills sympy's caches, so a first real call is not slow."""
    for gold, answer in (
        (r"\frac{\sqrt{2}}{2}", r"x^2 + \pi"),
        ("(1, 2]", r"1 < x \le 2"),
        (r"(-\infty, 1) \cup (2, \infty)", r"x < 1 \text{ or } x > 2"),
        (r"\{1, \sqrt{2}\}", r"\pm 2"),
        (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{bmatrix}1&2\\3&4\end{bmatrix}"),
        ("2x + 2y = 6", "x + y = 3"),
        (r"\sin^2 x + \cos^2 x", r"\log_2 8"),
    ):
        compare_symbolic(gold, answer, 0.01)


@lru_cache(maxsize=4096)
def parse_latex(text: str) -> Any:
    """A sympy object for a LaTeX answer, or None. Cached: a gold is parsed once for all its samples."""
    expr = parse_arithmetic(text)
    return finish(expr if expr is not None else library_parse(text))


def library_parse(text: str) -> Any:
    """latex2sympy2_extended's reading, after its own normalisation; None when it cannot read the text."""
    try:
        expr = latex2sympy(normalize_latex(text, _NORMALIZATION), normalization_config=None)
    except Exception:  # the grammar rejects what is not maths; any failure means "could not read it"
        return None
    if isinstance(expr, list):
        expr = sympy.FiniteSet(*expr) if expr else None
    return expr


def finish(expr: Any) -> Any:
    """Evaluate the parsed tree, make decimals exact and read `i` as the imaginary unit."""
    if expr is None:
        return None
    try:
        # The grammar builds unevaluated trees (`\sin(\pi)`, `2004!`); evaluating them is what makes exact
        # comparison possible. A runaway (`10^{10^{10}}`) is stopped by the pool's deadline.
        expr = expr.doit() if hasattr(expr, "doit") else expr
        # Decimals as the exact rationals they spell (0.1 is 1/10, not the nearest binary float).
        floats = expr.atoms(sympy.Float) if hasattr(expr, "atoms") else ()
        expr = expr.xreplace({f: sympy.Rational(str(f)) for f in floats}) if floats else expr
        # `i` is the imaginary unit in an answer; on both sides alike, so symmetry holds.
        if _IMAGINARY in getattr(expr, "free_symbols", ()):
            expr = expr.subs(_IMAGINARY, sympy.I)
    except Exception:  # leave the tree as parsed; the comparison decides what it can
        pass
    return expr


def _sympy_leaf(gold: str, answer: str, rel_tol: float) -> Outcome:
    try:
        return plain_leaf(gold, answer, rel_tol)
    except NeedsSympy:
        pass
    gold_number, answer_number = parse_number(gold), parse_number(answer)
    gold_expr = _as_expr(gold_number) if gold_number else parse_latex(gold)
    if gold_expr is None:
        return Outcome("unparseable_gold", gold)
    answer_expr = _as_expr(answer_number) if answer_number else parse_latex(answer)
    forms = _form(gold_expr), _form(answer_expr)
    if answer_expr is None:
        return Outcome("unparseable_answer", forms[0], answer)
    number = gold_number or answer_number
    other = answer_expr if gold_number else gold_expr
    if number is not None and _is_real_constant(other):
        equal = _number_matches(number, other, rel_tol)
    else:
        equal = _equivalent(gold_expr, answer_expr)
    return Outcome(EQUAL if equal else WRONG, *forms)


def _as_expr(number: Number) -> Any:
    return sympy.Rational(number.value.numerator, number.value.denominator)


def _form(expr: Any) -> str | None:
    if expr is None:
        return None
    try:
        return str(expr)[:_FORM_CHARS]
    except ValueError:  # an integer past Python's 4300-digit printing limit (2006!)
        return f"<{type(expr).__name__} too long to print>"


def _is_real_constant(expr: Any) -> bool:
    return isinstance(expr, sympy.Expr) and not expr.free_symbols and expr.is_real is not False


def _number_matches(number: Number, expr: Any, rel_tol: float) -> bool:
    r"""A plain number against a constant such as √2 or `\log_2 8`: equal values only. Rounding is for two
    decimals (`numbers_match`); an exact value is never matched with tolerance."""
    if expr.is_Rational:
        return numbers_match(number, Number(Fraction(int(expr.p), int(expr.q))), rel_tol)
    value = expr.evalf(_DIGITS)
    if not value.is_real or not value.is_finite:
        return False
    readings = [number.value] + ([number.value / 100] if number.percent else [])
    return any(
        _same_value(value, sympy.Rational(reading.numerator, reading.denominator).evalf(_DIGITS))
        for reading in readings
    )


def _same_value(a: Any, b: Any) -> bool:
    """Equal to 40 significant digits. Relative, so 1/2004! and 1/2006! stay different; against an exact
    zero, below 1e-40 (the rounding noise of an identity such as sin²x + cos²x − 1)."""
    if a == 0 or b == 0:
        return bool(max(abs(a), abs(b)) <= _IDENTICAL)
    return bool(abs(a - b) <= _IDENTICAL * max(abs(a), abs(b)))


def _equivalent(a: Any, b: Any) -> bool:
    """Mathematical equality of two parsed answers, by kind."""
    try:
        if a == b:
            return True
    except Exception:
        return False
    a_equation, b_equation = isinstance(a, sympy.Equality), isinstance(b, sympy.Equality)
    if a_equation and b_equation:
        return _same_equation(a, b)
    if a_equation or b_equation:
        equation, other = (a, b) if a_equation else (b, a)
        if isinstance(equation.lhs, sympy.Symbol | sympy.core.function.AppliedUndef):
            return _equivalent(equation.rhs, other)  # `f(x) = 2x` answers with `2x`
        return False
    a_condition, b_condition = _condition_set(a), _condition_set(b)
    if a_condition is not None or b_condition is not None:
        # Inequalities as the sets they describe: `x > 2` is `(2, \infty)`, `-1 < x \le 3` is `(-1, 3]`.
        a_set = a_condition if a_condition is not None else a
        b_set = b_condition if b_condition is not None else b
        return isinstance(a_set, sympy.Set) and isinstance(b_set, sympy.Set) and _sets_equal(a_set, b_set)
    if isinstance(a, sympy.Set) or isinstance(b, sympy.Set):
        return _sets_equal(a, b)
    if isinstance(a, sympy.Tuple) or isinstance(b, sympy.Tuple):
        return (
            isinstance(a, sympy.Tuple)
            and isinstance(b, sympy.Tuple)
            and len(a) == len(b)
            and all(_equivalent(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        return (
            isinstance(a, sympy.MatrixBase)
            and isinstance(b, sympy.MatrixBase)
            and a.shape == b.shape
            and all(_equivalent(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr):
        return _expressions_equal(a, b)
    return False


def _is_condition(expr: Any) -> bool:
    return isinstance(expr, sympy.core.relational.Relational | sympy.And | sympy.Or)


def _condition_set(expr: Any) -> Any:
    """The set an inequality in one variable describes, or None. `x < 1 or x > 2` parses as a set of two
    conditions: their union."""
    if isinstance(expr, sympy.FiniteSet) and expr.args and all(_is_condition(arg) for arg in expr.args):
        expr = sympy.Or(*expr.args)
    if not _is_condition(expr) or len(expr.free_symbols) != 1:
        return None
    if isinstance(expr, sympy.And | sympy.Or):
        parts = [_condition_set(arg) for arg in expr.args]
        if all(part is not None for part in parts):
            return (sympy.Intersection if isinstance(expr, sympy.And) else sympy.Union)(*parts)
    simple = _simple_interval(expr)
    if simple is not None:
        return simple
    try:
        return expr.as_set()  # general, and slow (hundreds of milliseconds)
    except Exception:
        return None


def _simple_interval(relation: Any) -> Any:
    r"""`x < 3`, `2 \le x`: a bound on a variable alone, as an interval without solving anything."""
    if not isinstance(relation, sympy.core.relational.Relational) or isinstance(relation, sympy.Ne):
        return None
    lhs, rhs, operator = relation.lhs, relation.rhs, relation.rel_op
    if isinstance(rhs, sympy.Symbol) and not lhs.free_symbols:
        lhs, rhs = rhs, lhs
        operator = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}[operator]
    if not isinstance(lhs, sympy.Symbol) or rhs.free_symbols or rhs.is_real is not True:
        return None
    return {
        "<": sympy.Interval.open(-sympy.oo, rhs),
        "<=": sympy.Interval(-sympy.oo, rhs),
        ">": sympy.Interval.open(rhs, sympy.oo),
        ">=": sympy.Interval(rhs, sympy.oo),
        "==": sympy.FiniteSet(rhs),
    }[operator]


def _sets_equal(a: Any, b: Any) -> bool:
    if not (isinstance(a, sympy.Set) and isinstance(b, sympy.Set)):
        finite, other = (a, b) if isinstance(a, sympy.FiniteSet) else (b, a)
        return isinstance(finite, sympy.FiniteSet) and len(finite) == 1 and _equivalent(finite.args[0], other)
    if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet):
        return _match_all(list(a.args), list(b.args))
    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        return (
            a.left_open == b.left_open
            and a.right_open == b.right_open
            and _equivalent(a.start, b.start)
            and _equivalent(a.end, b.end)
        )
    if isinstance(a, sympy.Union) and isinstance(b, sympy.Union):
        return _match_all(list(a.args), list(b.args))
    try:
        return bool(a.symmetric_difference(b) == sympy.EmptySet)
    except Exception:
        return False


def _match_all(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    remaining = list(b)
    for item in a:
        for index, candidate in enumerate(remaining):
            if _equivalent(item, candidate):
                del remaining[index]
                break
        else:
            return False
    return True


def _same_equation(a: Any, b: Any) -> bool:
    """Two equations are the same relation when one side-difference is a non-zero multiple of the other:
    `2x + 2y = 6` and `x + y = 3`."""
    a_difference, b_difference = a.lhs - a.rhs, b.lhs - b.rhs
    if not (isinstance(a_difference, sympy.Expr) and isinstance(b_difference, sympy.Expr)):
        return bool(a.lhs == b.lhs) and _equivalent(a.rhs, b.rhs)  # `x = [1, 2]`: sets on the right
    if _expressions_equal(a_difference, b_difference):
        return True
    ratios = [ratio for (ratio,) in _evaluations(a_difference / b_difference)]
    if not ratios:
        return False
    first = ratios[0]
    return first != 0 and all(_same_value(first, ratio) for ratio in ratios[1:])


def _evaluations(*exprs: Any) -> list[tuple[Any, ...]]:
    """The values of `exprs` at each test point where all have a finite one (complex allowed)."""
    symbols = sorted(set().union(*(expr.free_symbols for expr in exprs)), key=str)
    values = []
    for shift in range(len(_POINTS) if symbols else 1):
        point = {s: _POINTS[(shift + k) % len(_POINTS)] for k, s in enumerate(symbols)}
        try:
            at_point = tuple(sympy.N(expr.subs(point), _DIGITS) for expr in exprs)
        except Exception:
            continue
        if all(value.is_number and value.is_finite for value in at_point):
            values.append(at_point)
    return values


def _expressions_equal(a: Any, b: Any) -> bool:
    if a.is_Rational and b.is_Rational:
        return bool(a == b)  # exact: 1/2004! and 1/2006! never meet
    pairs = _evaluations(a, b)
    if any(not _same_value(a_value, b_value) for a_value, b_value in pairs):
        return False  # different at a test point
    # Equal to 40 digits at every test point is an identity (two points at least when there are symbols);
    # simplify, which is slow, is asked only when too few points gave a value.
    if len(pairs) >= (2 if (a - b).free_symbols else 1):
        return True
    try:
        return bool(sympy.simplify(a - b) == 0)
    except Exception:
        return False
