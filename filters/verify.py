"""Verifiers: is an extracted answer the gold answer?

Cheapest test first: normalised string equality, then exact rational arithmetic on plain numbers, then
sympy on LaTeX parsed by latex2sympy2_extended (an ANTLR grammar that builds sympy objects: nothing is
evaluated as Python) in a child process with a hard deadline.
"""

from __future__ import annotations

import enum
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from filters.deadline import DeadlineExceeded, DeadlinePool
from filters.extract import extract_answer
from filters.normalize import normalize_text, parse_number, strip_assignment

VERSION = "0.1.0"

# Longer LaTeX than this is not sent to sympy: no gold answer needs it, and a decoy could.
MAX_SYMBOLIC_CHARS = 300


class Status(enum.StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    CANNOT_TELL = "cannot_tell"  # no answer, unparseable gold or answer, timed out: never counted as wrong


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str  # snake_case: exact_match, equal_value, wrong_answer, no_answer, timed_out, ...
    answer: str | None
    gold_form: str | None = None  # the normalised forms that were compared
    answer_form: str | None = None
    verifier: str = ""

    @property
    def correct(self) -> bool:
        return self.status is Status.CORRECT


class ExactMatch:
    """Equal after `normalize_text`: math delimiters, `\\text{}` wrappers, spacing, case and a final period
    are ignored; `\\dfrac`/`\\tfrac` read as `\\frac`."""

    name = f"exact_match@{VERSION}"

    def check(self, gold: str, answer: str) -> Verdict:
        gold_form, answer_form = _exact_form(gold), _exact_form(answer)
        if gold_form == answer_form:
            return Verdict(Status.CORRECT, "exact_match", answer, gold_form, answer_form, self.name)
        return Verdict(Status.INCORRECT, "wrong_answer", answer, gold_form, answer_form, self.name)


def _exact_form(text: str) -> str:
    return strip_assignment(normalize_text(text)).casefold()


class SympyEquivalence:
    """Equal as numbers (exact rationals) or, failing that, as sympy expressions."""

    name = f"sympy@{VERSION}"

    def __init__(self, timeout_s: float = 5.0, pool: DeadlinePool | None = None) -> None:
        self.timeout_s = timeout_s
        self._pool = pool or _shared_pool()

    def check(self, gold: str, answer: str) -> Verdict:
        gold_number, answer_number = _number(gold), parse_number(answer)
        if gold_number is not None and answer_number is not None:
            forms = str(gold_number), str(answer_number)
            if gold_number == answer_number:
                return Verdict(Status.CORRECT, "equal_value", answer, *forms, self.name)
            return Verdict(Status.INCORRECT, "wrong_answer", answer, *forms, self.name)
        gold_text, answer_text = (
            strip_assignment(normalize_text(gold)),
            strip_assignment(normalize_text(answer)),
        )
        if len(gold_text) > MAX_SYMBOLIC_CHARS:
            return Verdict(Status.CANNOT_TELL, "unparseable_gold", answer, verifier=self.name)
        if len(answer_text) > MAX_SYMBOLIC_CHARS:
            return Verdict(Status.CANNOT_TELL, "unparseable_answer", answer, verifier=self.name)
        try:
            reason, gold_form, answer_form = self._pool.run(
                _symbolic_compare, gold_text, answer_text, timeout_s=self.timeout_s
            )
        except DeadlineExceeded:
            return Verdict(Status.CANNOT_TELL, "timed_out", answer, verifier=self.name)
        except (
            BrokenProcessPool,
            OSError,
        ):  # the worker died (out of memory, killed): this check cannot tell
            return Verdict(Status.CANNOT_TELL, "verifier_error", answer, verifier=self.name)
        status = {"equal_value": Status.CORRECT, "wrong_answer": Status.INCORRECT}.get(
            reason, Status.CANNOT_TELL
        )
        return Verdict(status, reason, answer, gold_form, answer_form, self.name)


@lru_cache(maxsize=4096)
def _number(gold: str) -> Fraction | None:
    return parse_number(gold)


def _symbolic_compare(gold: str, answer: str) -> tuple[str, str | None, str | None]:
    """Runs in the deadline pool. Returns (reason, gold form, answer form)."""
    import sympy
    from latex2sympy2_extended import latex2sympy

    def parse(text: str) -> sympy.Basic | None:
        try:
            return latex2sympy(text)
        except Exception:  # the grammar rejects what is not maths; any failure means "could not read it"
            return None

    gold_expr = parse(gold)
    if gold_expr is None:
        return "unparseable_gold", None, None
    answer_expr = parse(answer)
    if answer_expr is None:
        return "unparseable_answer", str(gold_expr), None
    forms = str(gold_expr), str(answer_expr)
    if gold_expr == answer_expr:
        return "equal_value", *forms
    try:
        difference = sympy.simplify(gold_expr - answer_expr)
    except Exception:  # sets, tuples, relations have no difference; structural equality already failed
        return "wrong_answer", *forms
    return ("equal_value" if difference == 0 else "wrong_answer"), *forms


def _warm_up() -> None:
    import latex2sympy2_extended  # noqa: F401


@lru_cache(maxsize=1)
def _shared_pool() -> DeadlinePool:
    return DeadlinePool(workers=1, warmup=_warm_up)


def verify(
    gold: str,
    response: str,
    *,
    patterns: tuple[str, ...] = (),
    timeout_s: float = 5.0,
) -> Verdict:
    """Check a response (or a bare answer) against the gold answer. Never raises.

    >>> verify("1/2", r"... so the answer is \\boxed{\\frac{1}{2}}").status
    <Status.CORRECT: 'correct'>
    """
    answer = extract_answer(response, patterns)
    if answer is None:
        return Verdict(Status.CANNOT_TELL, "no_answer", None)
    return check_answer(gold, answer, timeout_s=timeout_s)


def check_answer(gold: str, answer: str, *, timeout_s: float = 5.0) -> Verdict:
    """Check an extracted answer against the gold: exact match first, then sympy equivalence."""
    exact = ExactMatch().check(gold, answer)
    if exact.correct:
        return exact
    return SympyEquivalence(timeout_s).check(gold, answer)
