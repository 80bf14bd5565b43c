from __future__ import annotations

from collections import Counter

import pytest

from filters.curation import Draws, Trace, curate_problem
from filters.selectors import (
    DEFAULT_SELECTORS,
    SELECTORS,
    AtMost,
    Diverse,
    KeepAll,
    MinCorrect,
    PassRate,
    Shortest,
    ShortestLongest,
    fair_quotas,
    jaccard,
)
from filters.text import word_shingles

PROBLEM = "What is the sum of the positive divisors of 360?"

# One problem's traces as a teacher writes them. FACTORED_REWORDED is FACTORED resampled with a few words
# changed (about one in twenty); FACTORED_FORMULA is the same method in other words; PAIRED another method.
FACTORED = r"""<think>
We need the sum of the positive divisors of 360. First factor it: 360 = 8 * 45 = 2^3 * 3^2 * 5.
The sum of divisors function is multiplicative, so sigma(360) = sigma(2^3) * sigma(3^2) * sigma(5).
sigma(2^3) = 1 + 2 + 4 + 8 = 15. sigma(3^2) = 1 + 3 + 9 = 13. sigma(5) = 1 + 5 = 6.
So the sum is 15 * 13 * 6 = 195 * 6 = 1170. Let me double-check: 15 * 13 = 195, and 195 * 6 = 1170.
Yes.
</think>
Since 360 = 2^3 * 3^2 * 5, the sum of its divisors is (1 + 2 + 4 + 8)(1 + 3 + 9)(1 + 5)
= 15 * 13 * 6 = \boxed{1170}."""
FACTORED_REWORDED = r"""<think>
We want the sum of the positive divisors of 360. First factor it: 360 = 8 * 45 = 2^3 * 3^2 * 5.
The sum of divisors function is multiplicative, so sigma(360) = sigma(2^3) * sigma(3^2) * sigma(5).
Now sigma(2^3) = 1 + 2 + 4 + 8 = 15, sigma(3^2) = 1 + 3 + 9 = 13, and sigma(5) = 1 + 5 = 6.
So the sum is 15 * 13 * 6 = 195 * 6 = 1170. Double-check: 15 * 13 = 195, and 195 * 6 = 1170. Good.
</think>
Since 360 = 2^3 * 3^2 * 5, the sum of its divisors is (1 + 2 + 4 + 8)(1 + 3 + 9)(1 + 5)
= 15 * 13 * 6 = \boxed{1170}."""
FACTORED_FORMULA = r"""<think>
The sum of the positive divisors of 360. Factor: 360 = 2^3 * 3^2 * 5. Using the formula for the divisor sum,
it is (2^4 - 1)/(2 - 1) * (3^3 - 1)/(3 - 1) * (5^2 - 1)/(5 - 1) = 15 * 26/2 * 24/4 = 15 * 13 * 6 = 1170.
</think>
By the divisor-sum formula for 360 = 2^3 * 3^2 * 5, the answer is \boxed{1170}."""
PAIRED = r"""<think>
Sum of the positive divisors of 360. I could list them all and add. Divisors come in pairs d and 360/d:
1 and 360, 2 and 180, 3 and 120, 4 and 90, 5 and 72, 6 and 60, 8 and 45, 9 and 40, 10 and 36, 12 and 30,
15 and 24, 18 and 20. Adding each pair: 361 + 182 + 123 + 94 + 77 + 66 + 53 + 49 + 46 + 42 + 39 + 38.
Running total: 361, 543, 666, 760, 837, 903, 956, 1005, 1051, 1093, 1132, 1170. So the sum is 1170.
</think>
Pairing each divisor d of 360 with 360/d and adding the 12 pairs gives \boxed{1170}."""


def trace(index: int, text: str = "", tokens: int | None = None, correct: bool = True) -> Trace:
    return Trace(
        problem_id="p",
        index=index,
        problem=PROBLEM,
        text=text or f"trace {index}",
        correct=correct,
        verdict_reason="matched" if correct else "wrong_answer",
        completion_tokens=tokens,
    )


def indices(traces: list[Trace]) -> list[int]:
    return [t.index for t in traces]


def reasons(dropped: list[tuple[Trace, str]]) -> dict[int, str]:
    return {t.index: reason for t, reason in dropped}


ANY_DRAWS = Draws(drawn=8, correct=4)


def test_all_keeps_every_trace_in_order():
    traces = [trace(2), trace(0), trace(5)]
    selection = KeepAll().select(traces, ANY_DRAWS)
    assert indices(selection.kept) == [2, 0, 5]
    assert selection.dropped == []


@pytest.mark.parametrize(
    "k, count, kept, dropped",
    [
        (2, 5, [0, 1], [2, 3, 4]),  # the first k in the current order
        (3, 3, [0, 1, 2], []),  # exactly k: nothing dropped
        (4, 2, [0, 1], []),  # fewer than k: all kept
        (1, 0, [], []),  # no traces left
    ],
)
def test_at_most(k, count, kept, dropped):
    selection = AtMost(k).select([trace(i) for i in range(count)], ANY_DRAWS)
    assert indices(selection.kept) == kept
    assert reasons(selection.dropped) == {i: "over_k" for i in dropped}


@pytest.mark.parametrize(
    "k, tokens, texts, kept",
    [
        (1, [900, 300, 500], None, [1]),  # the single shortest by tokens
        (2, [900, 300, 500], None, [1, 2]),  # kept shortest first, not in index order
        (2, [400, 400, 100, 400], None, [2, 0]),  # equal lengths: the earlier in the order
        (5, [20, 10], None, [1, 0]),  # k above the count: all kept, shortest first
        (1, [None, None], ["a longer trace", "short"], [1]),  # no token counts: characters
        # one count missing: characters for all, so 5 tokens never compare with 11 characters
        (1, [5, None], ["a longer trace", "short trace"], [1]),
    ],
)
def test_shortest(k, tokens, texts, kept):
    traces = [trace(i, (texts or [""] * len(tokens))[i], n) for i, n in enumerate(tokens)]
    selection = Shortest(k).select(traces, ANY_DRAWS)
    assert indices(selection.kept) == kept
    assert reasons(selection.dropped) == {i: "not_shortest" for i in range(len(tokens)) if i not in kept}


@pytest.mark.parametrize(
    "tokens, kept",
    [
        ([500, 100, 900, 300], [1, 2]),  # shortest first, then longest
        ([700], [0]),  # one trace: kept once, not twice
        ([200, 200, 200], [0, 1]),  # all equal: two different traces, the earliest
        ([300, 900, 100, 900], [2, 1]),  # tied longest: the earlier one
        ([], []),  # nothing left
    ],
)
def test_shortest_longest(tokens, kept):
    traces = [trace(i, tokens=n) for i, n in enumerate(tokens)]
    selection = ShortestLongest().select(traces, ANY_DRAWS)
    assert indices(selection.kept) == kept
    assert reasons(selection.dropped) == {
        i: "not_shortest_or_longest" for i in range(len(tokens)) if i not in kept
    }


@pytest.mark.parametrize(
    "first, second, low, high",
    [
        (FACTORED, FACTORED_REWORDED, 0.7, 0.8),  # a few words changed: well above the 0.5 default
        (FACTORED, FACTORED_FORMULA, 0.0, 0.15),  # same method, other words: well below it
        (FACTORED, PAIRED, 0.0, 0.1),  # another method
        (FACTORED, FACTORED, 1.0, 1.0),  # identical
    ],
)
def test_similarity_of_real_traces_brackets_the_default_threshold(first, second, low, high):
    similarity = jaccard(word_shingles(first, 3), word_shingles(second, 3))
    assert low <= similarity <= high


@pytest.mark.parametrize(
    "text, ngram, shingles",
    [
        ("The Sum IS 28.", 2, {"the sum", "sum is", "is 28"}),  # lowercased words, punctuation ignored
        ("Answer: 28", 3, {"answer 28"}),  # shorter than n: one shingle, so short traces still compare
        ("  \n", 3, set()),  # no words
    ],
)
def test_word_shingles(text, ngram, shingles):
    assert word_shingles(text, ngram) == shingles


@pytest.mark.parametrize(
    "texts, k, kept, dropped",
    [
        # the resampled copy collapses into the earlier trace; the other two solutions stay
        (
            [FACTORED, FACTORED_REWORDED, PAIRED, FACTORED_FORMULA],
            3,
            [0, 2, 3],
            {1: "near_duplicate"},
        ),
        # the copy first in the order: it is the one kept
        ([FACTORED_REWORDED, PAIRED, FACTORED], 3, [0, 1], {2: "near_duplicate"}),
        # near-duplicates collapse before the cap counts: k = 2 keeps two different solutions
        (
            [FACTORED, FACTORED_REWORDED, PAIRED, FACTORED_FORMULA],
            2,
            [0, 2],
            {1: "near_duplicate", 3: "over_k"},
        ),
        # identical short traces (a bare answer) collapse too
        (["\\boxed{1170}", "\\boxed{1170}", PAIRED], 3, [0, 2], {1: "near_duplicate"}),
    ],
)
def test_diverse(texts, k, kept, dropped):
    selection = Diverse(k).select([trace(i, text) for i, text in enumerate(texts)], ANY_DRAWS)
    assert indices(selection.kept) == kept
    assert reasons(selection.dropped) == dropped


def test_diverse_threshold_is_a_parameter():
    # A strict threshold keeps the reworded copy (0.74 < 0.8): only closer copies collapse.
    traces = [trace(0, FACTORED), trace(1, FACTORED_REWORDED)]
    assert indices(Diverse(3, threshold=0.8).select(traces, ANY_DRAWS).kept) == [0, 1]


@pytest.mark.parametrize(
    "drawn, correct, low, high, reason",
    [
        (10, 5, 0.1, 0.9, None),  # inside the band
        (10, 1, 0.1, 0.9, None),  # on the lower edge: kept (the band is closed)
        (10, 9, 0.1, 0.9, None),  # on the upper edge: kept
        (20, 1, 0.1, 0.9, "pass_rate_below_band"),  # 0.05: too hard to trust the traces
        (10, 10, 0.1, 0.9, "pass_rate_above_band"),  # every draw correct: too easy to teach
        (8, 6, 0.2, 0.6, "pass_rate_above_band"),  # a recipe's band: 0.75 is above 0.6
        (8, 2, 0.2, 0.8, None),  # 0.25 inside 0.2-0.8
    ],
)
def test_pass_rate(drawn, correct, low, high, reason):
    traces = [trace(i) for i in range(min(correct, 3))]
    selection = PassRate(low, high).select(traces, Draws(drawn, correct))
    if reason is None:
        assert selection.kept == traces and selection.dropped == []
    else:
        assert selection.kept == [] and reasons(selection.dropped) == {t.index: reason for t in traces}


def test_pass_rate_with_no_draws_has_nothing_to_judge():
    assert PassRate().select([], Draws(0, 0)).kept == []


@pytest.mark.parametrize(
    "count, left, reason",
    [
        (2, 1, "too_few_correct"),  # SkyThought's rule: one correct trace is not enough
        (2, 2, None),  # exactly count: kept
        (1, 1, None),  # count 1 keeps any problem with a trace
        (3, 0, None),  # nothing left: nothing to drop
    ],
)
def test_min_correct(count, left, reason):
    traces = [trace(i) for i in range(left)]
    selection = MinCorrect(count).select(traces, ANY_DRAWS)
    if reason is None:
        assert selection.kept == traces and selection.dropped == []
    else:
        assert selection.kept == [] and reasons(selection.dropped) == {t.index: reason for t in traces}


@pytest.mark.parametrize(
    "selector, passing, expected",
    [
        (AtMost(2), 1, False),  # one more can still be kept
        (AtMost(2), 2, True),  # the first two are fixed: later draws only come after them
        (AtMost(2), 5, True),
        (KeepAll(), 100, False),  # every further draw is kept
        (Shortest(1), 50, False),  # a later draw may be shorter
        (ShortestLongest(), 50, False),  # or shorter or longer
        (Diverse(2), 10, False),  # the ten may all be copies of one
        (PassRate(), 10, False),  # a further draw moves the rate
        (MinCorrect(2), 10, False),  # it keeps further draws too
    ],
)
def test_enough(selector, passing, expected):
    assert selector.enough(passing) is expected


@pytest.mark.parametrize(
    "cls, params, message",
    [
        (AtMost, {"k": 0}, "k must be an integer >= 1, got 0"),
        (AtMost, {"k": "3"}, "k must be an integer >= 1, got '3'"),  # a YAML string is not a count
        (Shortest, {"k": True}, "k must be an integer >= 1, got True"),  # nor a bool
        (Diverse, {"k": 2, "threshold": 0}, "threshold must be in (0, 1], got 0"),  # 0 would collapse all
        (Diverse, {"k": 2, "threshold": 1.5}, "threshold must be in (0, 1], got 1.5"),
        (Diverse, {"k": 2, "ngram": 0}, "ngram must be an integer >= 1, got 0"),
        (PassRate, {"low": -0.1}, "low must be in [0, 1], got -0.1"),
        (PassRate, {"high": "0.8"}, "high must be in [0, 1], got '0.8'"),
        (PassRate, {"low": 0.8, "high": 0.2}, "low must be <= high, got low=0.8, high=0.2"),
        (MinCorrect, {"count": 0}, "count must be an integer >= 1, got 0"),
    ],
)
def test_parameters_are_validated_naming_the_field(cls, params, message):
    with pytest.raises(ValueError) as error:
        cls(**params)
    assert str(error.value) == message


def test_registry():
    assert list(SELECTORS) == [
        "all",
        "at_most",
        "shortest",
        "shortest_longest",
        "diverse",
        "pass_rate",
        "min_correct",
    ]
    assert set(DEFAULT_SELECTORS) <= set(SELECTORS)


def test_curate_problem_counts_each_drop_under_its_selector():
    # 8 draws, 6 correct (0.75, inside 0.1-0.9); of the correct, one is a resampled copy.
    texts = [
        FACTORED,
        "wrong",
        FACTORED_REWORDED,
        PAIRED,
        "wrong",
        FACTORED_FORMULA,
        PAIRED + " Done.",
        PAIRED,
    ]
    tokens = [400, 50, 390, 600, 60, 200, 610, 600]
    traces = [
        trace(i, text, n, correct=text != "wrong")
        for i, (text, n) in enumerate(zip(texts, tokens, strict=True))
    ]
    selectors = [
        ("pass_rate", PassRate()),
        ("diverse", Diverse(k=3)),
        ("shortest", Shortest(k=2)),
    ]
    curated = curate_problem(traces, Draws(drawn=8, correct=6), [], selectors)
    assert indices(curated.kept) == [5, 0]  # of the 3 distinct (0, 3, 5), the two shortest, shortest first
    assert Counter((unit, reason) for _, unit, reason in curated.dropped) == {
        ("verifier", "wrong_answer"): 2,
        ("diverse", "near_duplicate"): 3,  # 2 (copy of 0), 6 and 7 (copies of 3)
        ("shortest", "not_shortest"): 1,  # 3
    }


def test_curate_problem_outside_the_band_drops_all_before_later_selectors():
    traces = [trace(i, tokens=100 + i) for i in range(4)]
    selectors = [("pass_rate", PassRate(0.2, 0.8)), ("shortest", Shortest())]
    curated = curate_problem(traces, Draws(drawn=4, correct=4), [], selectors)
    assert curated.kept == []
    assert Counter((unit, reason) for _, unit, reason in curated.dropped) == {
        ("pass_rate", "pass_rate_above_band"): 4
    }


@pytest.mark.parametrize(
    "kept_per_problem, budget, quotas",
    [
        ([3, 1, 2], 4, [2, 1, 1]),  # pass 1 takes 3, pass 2 the first problem with a second trace
        ([3, 1, 2], 5, [2, 1, 2]),  # two full passes
        ([3, 1, 2], 6, [3, 1, 2]),  # budget = total: every trace
        ([3, 1, 2], 100, [3, 1, 2]),  # budget above the total: every trace, no more
        ([3, 1, 2], 2, [1, 1, 0]),  # a partial first pass goes to the earliest problems
        ([3, 1, 2], 0, [0, 0, 0]),  # no budget
        ([], 10, []),  # no problems
        ([0, 2, 0, 2], 3, [0, 2, 0, 1]),  # problems with nothing kept take no turn
        ([5, 5, 5], 7, [3, 2, 2]),  # equal counts: round-robin
        ([1, 10**9], 10**9, [1, 10**9 - 1]),  # a huge pass count: no loop over rows
    ],
)
def test_fair_quotas(kept_per_problem, budget, quotas):
    assert fair_quotas(kept_per_problem, budget) == quotas
    assert sum(quotas) == min(budget, sum(kept_per_problem))


@pytest.mark.parametrize(
    "kept_per_problem, budget, message",
    [
        ([1, 2], -1, "budget must be an integer >= 0, got -1"),
        ([1, -2], 3, "kept_per_problem must hold counts >= 0, got -2"),
    ],
)
def test_fair_quotas_rejects_bad_input(kept_per_problem, budget, message):
    with pytest.raises(ValueError) as error:
        fair_quotas(kept_per_problem, budget)
    assert str(error.value) == message
