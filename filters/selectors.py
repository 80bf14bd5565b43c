"""Problem selectors: which of one problem's verified, filtered traces ship, best first.

Each selector is a frozen dataclass whose fields are its parameters (a config section builds it from
`SELECTORS[name](**params)`), with one method, `select`, answering with a `filters.curation.Selection`:
the traces it keeps, best first, and each one it drops with a snake_case reason. The curate stage runs the
configured selectors in order, each on what the previous kept, and counts the drops by selector and reason.

`enough(passing)` tells adaptive sampling when drawing more for a problem is wasted: True only when, with
`passing` traces reaching the selector (new draws arriving after them in the order), no further draw can
change what the selector keeps.

`fair_quotas` is the one selection that needs every problem at once (a total row budget), so the package
stage calls it, not the per-problem curation.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from filters.curation import Draws, Selection, Trace
from filters.text import word_shingles


@dataclass(frozen=True, slots=True)
class KeepAll:
    """Keep every trace: the rejection-sampling default, where every correct trace is a training row
    (NeMo-Skills' OpenMathReasoning keeps all judged-correct solutions of its many per problem)."""

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        return Selection(list(traces))

    def enough(self, passing: int) -> bool:
        return False  # every further passing draw is one more kept trace


@dataclass(frozen=True, slots=True)
class AtMost:
    """Keep the first `k` traces in the current order (OpenThoughts' answers-per-question ablation: k = 1,
    4, 16). `- at_most: 1` keeps one trace per problem."""

    k: int

    def __post_init__(self) -> None:
        _require_count("k", self.k, minimum=1)

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        return Selection(list(traces[: self.k]), [(trace, "over_k") for trace in traces[self.k :]])

    def enough(self, passing: int) -> bool:
        # Later draws come after the first k in the order, so they cannot displace them.
        return passing >= self.k


@dataclass(frozen=True, slots=True)
class Shortest:
    """Keep the `k` shortest traces, shortest first; ties keep the current order (Sky-T1-Flash keeps the
    shortest correct of 8: k = 1). Length is the engine's `completion_tokens` where every trace has it, else
    characters for all, so one problem's traces are never compared in mixed units."""

    k: int = 1

    def __post_init__(self) -> None:
        _require_count("k", self.k, minimum=1)

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        lengths = _lengths(traces)
        by_length = sorted(range(len(traces)), key=lengths.__getitem__)  # stable: ties keep the current order
        kept = [traces[at] for at in by_length[: self.k]]
        return Selection(kept, [(traces[at], "not_shortest") for at in sorted(by_length[self.k :])])

    def enough(self, passing: int) -> bool:
        return False  # a later draw may be shorter than every trace kept so far


@dataclass(frozen=True, slots=True)
class ShortestLongest:
    """Keep the shortest and the longest trace, in that order: Sky-T1-Flash's pair from 8 correct traces
    (shortest as the preferred answer, longest as the rejected one). Lengths as in `shortest`; a problem
    with one trace keeps it."""

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        if len(traces) <= 1:
            return Selection(list(traces))
        lengths = _lengths(traces)
        shortest = min(range(len(traces)), key=lengths.__getitem__)
        # Among equally long traces the earliest wins; the shortest is excluded so two traces are kept even
        # when all lengths are equal.
        longest = max((at for at in range(len(traces)) if at != shortest), key=lambda at: (lengths[at], -at))
        dropped = [
            (trace, "not_shortest_or_longest")
            for at, trace in enumerate(traces)
            if at not in (shortest, longest)
        ]
        return Selection([traces[shortest], traces[longest]], dropped)

    def enough(self, passing: int) -> bool:
        return False  # a later draw may be shorter or longer than both kept traces


@dataclass(frozen=True, slots=True)
class Diverse:
    """Collapse near-duplicate traces (the earlier in the current order stays), then keep the first `k` of
    the rest. Near-duplicate: Jaccard similarity of word `ngram`-gram shingles (lowercased `\\w+` tokens) at
    least `threshold`; greedy and exact, each trace compared with every distinct one before it. The test is
    datatrove's MinHash near-dedup (word 5-grams, about 0.75-0.8 Jaccard across documents), computed exactly
    within one problem.

    The default 0.5 (with 3-grams) sits between what the two kinds measure (tests/test_selectors.py): a
    trace resampled with a few words changed (one in twenty) scores about 0.74, and two traces of one
    problem by the same method in other words about 0.1, by different methods about 0.04. With 3-grams, 0.5
    collapses copies with up to about one word in ten changed.
    """

    k: int
    threshold: float = 0.5
    ngram: int = 3

    def __post_init__(self) -> None:
        _require_count("k", self.k, minimum=1)
        _require_fraction("threshold", self.threshold, open_low=True)
        _require_count("ngram", self.ngram, minimum=1)

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        distinct: list[tuple[Trace, frozenset[str]]] = []
        dropped: list[tuple[Trace, str]] = []
        for trace in traces:
            shingles = word_shingles(trace.text, self.ngram)
            if any(jaccard(shingles, seen) >= self.threshold for _, seen in distinct):
                dropped.append((trace, "near_duplicate"))
            else:
                distinct.append((trace, shingles))
        kept = [trace for trace, _ in distinct]
        return Selection(kept[: self.k], dropped + [(trace, "over_k") for trace in kept[self.k :]])

    def enough(self, passing: int) -> bool:
        # `passing` counts traces, not distinct ones: with k of them, all may be copies of one, and a later
        # draw that differs would be kept.
        return False


@dataclass(frozen=True, slots=True)
class PassRate:
    """Drop every trace of a problem whose pass rate (`draws.correct / draws.drawn`, as the verifier judged
    every draw) lies outside [`low`, `high`]: too hard to trust, or too easy to teach anything (open-r1's
    pass-rate band; recipes use 0.2-0.8 and 0.1-0.6). `- pass_rate: 0.2` sets `low`."""

    low: float = 0.1
    high: float = 0.9

    def __post_init__(self) -> None:
        _require_fraction("low", self.low, open_low=False)
        _require_fraction("high", self.high, open_low=False)
        if self.low > self.high:
            raise ValueError(f"low must be <= high, got low={self.low}, high={self.high}")

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        if draws.drawn == 0:
            return Selection(list(traces))  # nothing drawn, so no trace to judge
        rate = draws.correct / draws.drawn
        if rate < self.low:
            return Selection([], [(trace, "pass_rate_below_band") for trace in traces])
        if rate > self.high:
            return Selection([], [(trace, "pass_rate_above_band") for trace in traces])
        return Selection(list(traces))

    def enough(self, passing: int) -> bool:
        return False  # every further draw moves the pass rate, into the band or out of it


@dataclass(frozen=True, slots=True)
class MinCorrect:
    """Drop every trace of a problem that has fewer than `count` traces left at this point (SkyThought
    drops problems with fewer than 2 correct traces: count = 2)."""

    count: int = 2

    def __post_init__(self) -> None:
        _require_count("count", self.count, minimum=1)

    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        if len(traces) < self.count:
            return Selection([], [(trace, "too_few_correct") for trace in traces])
        return Selection(list(traces))

    def enough(self, passing: int) -> bool:
        return False  # once it keeps, it keeps every further passing draw too


def fair_quotas(kept_per_problem: Sequence[int], budget: int) -> list[int]:
    """How many of its best traces each problem ships under a total row budget: NeMo-Skills' "fair"
    downsampling, round-robin over problems in order, each problem's best trace in pass 1, its second in
    pass 2, and so on until `budget` rows are taken. The last, partial pass goes to the earliest problems.

    >>> fair_quotas([3, 1, 2], 4)
    [2, 1, 1]
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be an integer >= 0, got {budget!r}")
    if any(count < 0 for count in kept_per_problem):
        raise ValueError(f"kept_per_problem must hold counts >= 0, got {min(kept_per_problem)}")

    def taken(passes: int) -> int:
        return sum(min(count, passes) for count in kept_per_problem)

    # `taken` grows with the passes, so a binary search finds the last full one: O(problems · log(max count)),
    # never a loop over rows.
    full_passes = bisect_right(range(max(kept_per_problem, default=0) + 1), budget, key=taken) - 1
    left = budget - taken(full_passes)
    quotas: list[int] = []
    for count in kept_per_problem:
        extra = 1 if count > full_passes and left > 0 else 0
        left -= extra
        quotas.append(min(count, full_passes) + extra)
    return quotas


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    """|first ∩ second| / |first ∪ second|; two empty sets are the same text (1.0)."""
    shared = len(first & second)
    union = len(first) + len(second) - shared  # counted, not built: diverse compares every pair of a problem
    return shared / union if union else 1.0


def _lengths(traces: Sequence[Trace]) -> list[int]:
    counted = [trace.completion_tokens for trace in traces if trace.completion_tokens is not None]
    if len(counted) == len(traces):
        return counted
    return [len(trace.text) for trace in traces]


def _require_count(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _require_fraction(name: str, value: object, *, open_low: bool) -> None:
    in_range = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (0 < value <= 1 if open_low else 0 <= value <= 1)
    )
    if not in_range:
        raise ValueError(f"{name} must be in {'(0, 1]' if open_low else '[0, 1]'}, got {value!r}")


SELECTORS: dict[str, type] = {
    "all": KeepAll,
    "at_most": AtMost,
    "shortest": Shortest,
    "shortest_longest": ShortestLongest,
    "diverse": Diverse,
    "pass_rate": PassRate,
    "min_correct": MinCorrect,
}
DEFAULT_SELECTORS = ("all",)
