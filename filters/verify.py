"""Verifiers: is a response's final answer the gold answer?

Cheapest test first: exact match of normalised forms, then plain numbers as exact rationals, then sympy
on LaTeX in a child process with a hard deadline. Only the last costs more than microseconds.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, TypeVar

from filters.compare import (
    NeedsSympy,
    Outcome,
    answer_form,
    choice_letter,
    compare,
    is_text_answer,
    plain_leaf,
)
from filters.deadline import DeadlineExceeded, DeadlinePool
from filters.extract import EXTRACTION_MODES, boxed_answer, find_answer

VERSION = "0.4.0"

# Answers (and golds) longer than this are not compared: no real answer needs it, and a decoy could.
MAX_ANSWER_CHARS = 1000

# A response longer than this is checked in the pool, finding its answer and comparing it under one
# deadline. Extraction is linear (0.1 to 0.3 s for 64 KB on a busy core, tests/test_bounds_verify.py): in
# process, a response this long is read well within the second a deadline may overrun; a longer one could
# take any time.
IN_PROCESS_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class VerifyConfig:
    """How answers are found and compared.

    patterns: the data set's regexes for the final answer, tried after `\\boxed{}` (first group, or the
        whole match, is the answer).
    timeout_s: the hard limit for one symbolic comparison.
    rel_tol: how far a rounded decimal may be from the value it rounds (relative); 0 compares exactly.
    extraction: `lenient` also reads the final stated value of a response that states no answer (the last
        formula or number of its closing sentence); `strict` reads stated answers only (a box, a marker,
        a pattern, a bare answer). See `filters.extract`.
    """

    patterns: tuple[str, ...] = ()
    timeout_s: float = 5.0
    rel_tol: float = 0.01
    extraction: str = "lenient"

    def __post_init__(self) -> None:
        if self.extraction not in EXTRACTION_MODES:
            raise ValueError(
                f"extraction must be one of {', '.join(EXTRACTION_MODES)}; got {self.extraction!r}"
            )


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
    found_by: str | None = None  # how the answer was found in the response (`filters.extract.Found.how`)

    @property
    def correct(self) -> bool:
        return self.status is Status.CORRECT


_STATUS = {
    "exact_match": Status.CORRECT,
    "equal_value": Status.CORRECT,
    "wrong_answer": Status.INCORRECT,
}


class ExactMatch:
    """Equal as strings after normalisation: surrounding `$…$`, `\\(…\\)`, `\\[…\\]` and markdown emphasis
    are dropped; `\\text{}`, `\\textbf{}`, `\\mathrm{}`, `\\mbox{}` keep only their content; LaTeX spacing
    (`\\,`, `\\;`, `\\quad`, `~`) and sizing (`\\left`, `\\right`, `\\big`) go; runs of whitespace become one
    space; a final period goes; `\\dfrac`/`\\tfrac` read as `\\frac`; `x = ` before a single-variable value
    goes; case is ignored. Used alone for answers in words (`Tuesday`, `no solution`)."""

    name = f"exact_match@{VERSION}"

    def check(self, gold: str, answer: str) -> Verdict:
        gold_form, answer_form_ = answer_form(gold), answer_form(answer)
        if gold_form.casefold() == answer_form_.casefold() and gold_form:
            return Verdict(Status.CORRECT, "exact_match", answer, gold_form, answer_form_, self.name)
        return Verdict(Status.INCORRECT, "wrong_answer", answer, gold_form, answer_form_, self.name)


class SympyEquivalence:
    """Equal in value: numbers as exact rationals, LaTeX as sympy objects (expressions, equations,
    inequalities, intervals, sets, tuples, matrices, complex numbers), compared by kind."""

    name = f"sympy@{VERSION}"

    def __init__(
        self, config: VerifyConfig | None = None, pool: DeadlinePool | _SymbolicLater | _InPlace | None = None
    ) -> None:
        self.config = config or VerifyConfig()
        self._pool = pool or shared_pool()

    def check(self, gold: str, answer: str) -> Verdict:
        try:
            outcome = compare(gold, answer, self.config.rel_tol, plain_leaf)
        except NeedsSympy:
            outcome = self._symbolic(gold, answer)
        except Exception:  # a bug of ours must cost one verdict, not a run
            outcome = Outcome("verifier_error")
        status = _STATUS.get(outcome.reason, Status.CANNOT_TELL)
        return Verdict(status, outcome.reason, answer, outcome.gold_form, outcome.answer_form, self.name)

    def _symbolic(self, gold: str, answer: str) -> Outcome:
        try:
            return self._pool.run(
                _compare_symbolic, gold, answer, self.config.rel_tol, timeout_s=self.config.timeout_s
            )
        except DeadlineExceeded:
            return Outcome("timed_out")
        except (BrokenProcessPool, CancelledError, OSError):  # the worker died (out of memory, killed)
            return Outcome("verifier_error")


def _compare_symbolic(gold: str, answer: str, rel_tol: float) -> Outcome:
    """Runs in the pool. Imported here, not at the top, so that sympy loads only in the pool's processes
    (importing it costs the caller a second or more)."""
    from filters.symbolic import compare_symbolic

    return compare_symbolic(gold, answer, rel_tol)


def _warm_up() -> None:
    from filters.symbolic import warm_up

    warm_up()


def shared_pool(workers: int = 1) -> DeadlinePool:
    """One pool per size for the whole process, started on first use."""
    return _pool_of_size(workers)  # `shared_pool()` and `shared_pool(1)` are one pool


@cache
def _pool_of_size(workers: int) -> DeadlinePool:
    return DeadlinePool(workers=workers, warmup=_warm_up)


def check_answer(
    gold: str, answer: str, config: VerifyConfig | None = None, *, workers: int | None = 1
) -> Verdict:
    """Check a bare answer against the gold: exact match first, then equivalence. Never raises. `workers`
    picks the pool as `verify_many` does (None: all cores), so a caller of both starts one pool."""
    return _check(gold, answer, config or VerifyConfig(), shared_pool(workers or os.cpu_count() or 1))


def verify(gold: str, response: str, config: VerifyConfig | None = None) -> Verdict:
    """Check a response (a whole chain of thought, or a bare answer) against the gold. Never raises.

    >>> verify("1/2", r"... so the answer is \\boxed{\\frac{1}{2}}").status
    <Status.CORRECT: 'correct'>
    """
    return _verify(gold, response, config or VerifyConfig(), shared_pool())


def start_pool(workers: int | None = None) -> None:
    """Start the process pool `verify_many(workers=...)` uses now, and wait until it is warm: a caller that
    has idle time (an engine loading) spends it here instead of on the first symbolic check."""
    _pool_for_many(workers).start()


def stop_pool(workers: int | None = None) -> None:
    """Stop the process pool `verify_many(workers=...)` uses and wait until its processes have exited (the
    next use starts it again). A program that verified calls it before it exits: see `DeadlinePool.close`."""
    _pool_for_many(workers).close()


def _pool_for_many(workers: int | None) -> DeadlinePool:
    return shared_pool(workers or os.cpu_count() or 1)


def verify_many(
    pairs: Iterable[tuple[str, str]], config: VerifyConfig | None = None, *, workers: int | None = None
) -> list[Verdict]:
    """`verify` on many (gold, response) pairs, `workers` symbolic checks at a time (default: all cores).
    Verdicts come back in input order."""
    config = config or VerifyConfig()
    pool = _pool_for_many(workers)
    pairs = list(pairs)
    # Most answers are decided in microseconds, here; only those that need sympy go to threads that wait
    # on the pool. A thread hop for every sample cost the driver's checker 9.4 of its 21.9 profiled seconds
    # (tests/bench/bench_driver.py; README "How far one driver goes").
    verdicts = [_verify(gold, response, config, _NEEDS_POOL) for gold, response in pairs]
    symbolic = [at for at, verdict in enumerate(verdicts) if verdict.reason == _NEEDS_POOL.reason]
    if symbolic:
        with ThreadPoolExecutor(min(pool.workers, len(symbolic))) as threads:
            checked = threads.map(lambda at: _verify(*pairs[at], config, pool), symbolic)
            for at, verdict in zip(symbolic, checked, strict=True):
                verdicts[at] = verdict
    return verdicts


class _SymbolicLater:
    """A stand-in for the pool: every symbolic comparison answers with a marker reason instead of running,
    so `verify_many` can send just those to the pool."""

    reason = "needs_pool"

    def run(self, fn: object, *args: object, timeout_s: float) -> Outcome:
        return Outcome(self.reason)


_NEEDS_POOL = _SymbolicLater()

T = TypeVar("T")


class _InPlace:
    """The pool as a worker of the pool sees it: work runs here, under the deadline of the call that
    brought it there."""

    def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        return fn(*args)


_IN_PLACE = _InPlace()


def _verify(
    gold: str, response: str, config: VerifyConfig, pool: DeadlinePool | _SymbolicLater | _InPlace
) -> Verdict:
    if len(response) > IN_PROCESS_CHARS and not isinstance(pool, _InPlace):
        if isinstance(pool, _SymbolicLater):
            return Verdict(Status.CANNOT_TELL, pool.reason, None)
        return _verify_in_pool(gold, response, config, pool)
    try:
        gold, choices, words = _gold_reading(gold)
        if response.strip() == gold.strip():  # the gold itself, however prose-like extraction finds it
            return dataclasses.replace(_check(gold, gold.strip(), config, pool), found_by="bare")
        found = find_answer(response, config.patterns, choices=choices, words=words, mode=config.extraction)
    except Exception:  # a bug of ours must cost one verdict, not a run
        return Verdict(Status.CANNOT_TELL, "verifier_error", None, verifier=SympyEquivalence.name)
    if found is None:
        return Verdict(Status.CANNOT_TELL, "no_answer", None, verifier=SympyEquivalence.name)
    return dataclasses.replace(_check(gold, found.answer, config, pool), found_by=found.how)


def _verify_in_pool(gold: str, response: str, config: VerifyConfig, pool: DeadlinePool) -> Verdict:
    try:
        return pool.run(_verify_in_place, gold, response, config, timeout_s=config.timeout_s)
    except DeadlineExceeded:
        return Verdict(Status.CANNOT_TELL, "timed_out", None, verifier=SympyEquivalence.name)
    except (BrokenProcessPool, CancelledError, OSError):  # the worker died (out of memory, killed)
        return Verdict(Status.CANNOT_TELL, "verifier_error", None, verifier=SympyEquivalence.name)


def _verify_in_place(gold: str, response: str, config: VerifyConfig) -> Verdict:
    """Runs in the pool."""
    return _verify(gold, response, config, _IN_PLACE)


@lru_cache(maxsize=4096)
def _gold_reading(gold: str) -> tuple[str, bool, bool]:
    """The gold answer (some data sets keep it inside \\boxed{}), and whether it is a choice letter or
    words: what extraction looks for. Cached: a problem's n samples share one gold."""
    gold = boxed_answer(gold) or gold
    return gold, choice_letter(gold) is not None, is_text_answer(answer_form(gold))


def _check(
    gold: str, answer: str, config: VerifyConfig, pool: DeadlinePool | _SymbolicLater | _InPlace
) -> Verdict:
    try:
        if len(gold) > MAX_ANSWER_CHARS:
            return Verdict(Status.CANNOT_TELL, "gold_too_long", answer, verifier=SympyEquivalence.name)
        if len(answer) > MAX_ANSWER_CHARS:
            return Verdict(Status.CANNOT_TELL, "answer_too_long", answer, verifier=SympyEquivalence.name)
        exact = ExactMatch().check(gold, answer)
        if exact.correct:
            return exact
        return SympyEquivalence(config, pool).check(gold, answer)
    except Exception:
        return Verdict(Status.CANNOT_TELL, "verifier_error", answer, verifier=SympyEquivalence.name)
