"""Dedup units on planted cases: which position each duplicate points to and with which reason, whatever
order the texts are added in; the near-dedup curve measured on traces written the way teachers write them;
the units built and refused through the config."""

from __future__ import annotations

import importlib.util
import random
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from factory.config import RunConfig, build
from factory.errors import FactoryError
from filters.dedup import (
    DEDUP_UNITS,
    DEFAULT_DEDUP,
    NEAR_DEDUP_NEEDS,
    Duplicate,
    DuplicateFinder,
    ExactDedup,
    NearDedup,
    normalise,
)
from filters.selectors import jaccard
from filters.text import word_shingles

# A teacher's chain of thought, about 250 words (numbers count as words).
MARBLES = r"""<think>
Okay, so the bag has 5 red marbles and 3 blue ones, 8 in total, and we draw two without putting the first
back. I want the probability that both have the same colour. That can happen in two ways: both red, or both
blue. These cases are disjoint, so I can add their probabilities.

Both red: the first draw is red with probability 5/8. Given that, 4 red are left out of 7, so the second is
red with probability 4/7. That gives 5/8 * 4/7 = 20/56.

Both blue: the first is blue with probability 3/8, then 2 blue remain out of 7, so 2/7. That gives
3/8 * 2/7 = 6/56.

Adding them: 20/56 + 6/56 = 26/56 = 13/28.

Let me double-check with combinations. The number of ways to choose 2 marbles from 8 is C(8,2) = 28.
Same-colour pairs: C(5,2) = 10 red pairs and C(3,2) = 3 blue pairs, so 13 pairs in all. The probability is
13/28, which matches.

Hmm, does it matter whether the draws are ordered? No, both counts treat them consistently, and the two
methods agree. So the answer is 13/28, a bit under one half, which makes sense because the mixed pairs are
5 * 3 = 15 of the 28.
</think>
The probability that both marbles have the same colour is (C(5,2) + C(3,2)) / C(8,2) = 13/28, so the answer
is \boxed{\frac{13}{28}}."""

# MARBLES resampled: 11 runs of its 255 words changed (about one word in twenty), the way a second draw at
# temperature 0.7 rewords a few connectives and keeps the working.
MARBLES_RESAMPLED = r"""<think>
Alright, so the bag has 5 red marbles and 3 blue ones, 8 in total, and we draw two without putting the first
back. We want the probability that both have the same colour. That can happen in two ways: both red, or both
blue. These events are disjoint, so I can add their probabilities.

Both red: the first draw is red with probability 5/8. After that, 4 red are left out of 7, so the second is
red with probability 4/7. That gives 5/8 * 4/7 = 20/56.

Both blue: the first is blue with chance 3/8, then 2 blue remain out of 7, so 2/7. That gives
3/8 * 2/7 = 6/56.

Summing them: 20/56 + 6/56 = 26/56 = 13/28.

Let me verify with combinations. The number of ways to pick 2 marbles from 8 is C(8,2) = 28.
Same-colour pairs: C(5,2) = 10 red pairs and C(3,2) = 3 blue pairs, so 13 pairs in total. The probability is
13/28, which agrees.

Hmm, does it matter whether the draws are ordered? No, both counts treat them the same, and the two
methods agree. So the answer is 13/28, a bit under one half, which makes sense because the mixed pairs are
5 * 3 = 15 of the 28.
</think>
The probability that both marbles have the same colour is (C(5,2) + C(3,2)) / C(8,2) = 13/28, so the answer
is \boxed{\frac{13}{28}}."""

# MARBLES with 2 of its 255 words changed (about one in a hundred).
MARBLES_TOUCHED = MARBLES.replace("Okay, so", "Alright, so").replace("which matches", "which agrees")

# The same problem by the complement, in other words.
MARBLES_COMPLEMENT = r"""<think>
Easier to count the complement. The two marbles differ in colour if one is red and one is blue. Drawing in
order, red then blue has probability (5/8)(3/7) = 15/56, and blue then red has (3/8)(5/7) = 15/56. So the
chance of a mixed pair is 30/56 = 15/28.

Then the chance of a matching pair is 1 - 15/28 = 13/28.

Check by counting unordered pairs: there are 8 choose 2 = 28 pairs, 5 * 3 = 15 of them mixed, 28 - 15 = 13
matching. Good, 13/28.
</think>
Compute the complement: P(different colours) = 2 * (5/8)(3/7) = 15/28. Hence
P(same colour) = 1 - 15/28 = \boxed{\frac{13}{28}}."""

# Other problems, other styles.
TERSE = r"""17 * 23 = 17 * 20 + 17 * 3 = 340 + 51 = 391. \boxed{391}"""

LATEX = r"""We have $\int_0^1 x e^{x}\,dx$. Integrate by parts with $u = x$, $dv = e^{x}\,dx$, so
$du = dx$ and $v = e^{x}$:
\[
\int_0^1 x e^{x}\,dx = \left[x e^{x}\right]_0^1 - \int_0^1 e^{x}\,dx = e - (e - 1) = 1.
\]
Therefore the integral equals $\boxed{1}$."""

MARKDOWN = r"""**Step 1.** Let the width be $w$; then the length is $w + 4$.

**Step 2.** The perimeter is $2w + 2(w + 4) = 4w + 8 = 48$, so $w = 10$.

**Step 3.** The length is $14$ and the area is $10 \cdot 14 = 140$.

**Answer:** $\boxed{140}$"""

FRENCH = r"""<think>
On cherche le plus petit entier positif n tel que 3n + 1 soit divisible par 7. On teste : n = 1 donne 4,
n = 2 donne 7, qui est divisible par 7. Donc n = 2.
</think>
Pour n = 2, on a 3 · 2 + 1 = 7, divisible par 7, et n = 1 donne 4, qui ne l'est pas. La réponse est
\boxed{2}."""

PROBLEM = "Find all real $x$ such that $x^2 - 5x + 6 = 0$."


def find(units: list[tuple[str, object]], texts: list[str], target: str = "traces", order=None):
    finder = DuplicateFinder(units, size=len(texts), target=target)
    for position in order if order is not None else range(len(texts)):
        finder.add(position, texts[position])
    return finder.duplicates()


EXACT = [("exact", ExactDedup())]
NEAR = [("near", NearDedup())]
EXACT_THEN_NEAR = [("exact", ExactDedup()), ("near", NearDedup())]
# Tuned for resampled traces rather than web pages: 3-grams, 20 bands of 4.
NEAR_FOR_TRACES = [("near", NearDedup(ngram=3, bands=20, rows=4))]


@pytest.mark.parametrize(
    "first, second, same",
    [
        (PROBLEM, PROBLEM.upper(), True),  # case
        (PROBLEM, "  Find all real $x$\n such that\t$x^2 -  5x + 6 = 0$.\n", True),  # whitespace runs
        (PROBLEM, "Ｆｉｎｄ ａｌｌ real $ｘ$ such that $x^2 - 5x + 6 = 0$.", True),  # full-width letters
        (PROBLEM, PROBLEM.replace(" ", "\u00a0"), True),  # no-break spaces from a web page
        ("ﬁnd the ﬂux", "find the flux", True),  # ligatures (PDF extraction)
        ("Straße", "STRASSE", True),  # casefold, not lower
        (PROBLEM, PROBLEM.replace("+ 6", "- 6"), False),  # another problem
        (PROBLEM, PROBLEM.rstrip("."), False),  # punctuation counts
        (PROBLEM, PROBLEM.replace(" ", ""), False),  # words run together are other text
        (MARBLES, MARBLES_TOUCHED, False),  # two words changed: near, not exact
    ],
)
def test_exact(first, second, same):
    expected = {1: Duplicate(kept=0, unit="exact", reason="duplicate")} if same else {}
    assert find(EXACT, [first, second]) == expected


def test_normalise():
    assert normalise("  Ｘ²\u00a0+\n\n1  ") == "x2 + 1"


def test_the_lowest_position_is_kept_whatever_the_order_of_adding():
    texts = [
        TERSE,
        MARBLES,
        LATEX,
        MARBLES.upper(),
        TERSE + "  ",
        MARKDOWN,
        MARBLES,
        LATEX.replace("\n", " "),
    ]
    expected = {
        3: Duplicate(1, "exact", "duplicate"),
        4: Duplicate(0, "exact", "duplicate"),
        6: Duplicate(1, "exact", "duplicate"),
        7: Duplicate(2, "exact", "duplicate"),
    }
    assert find(EXACT, texts) == expected
    rng = random.Random(7)
    for _ in range(5):
        order = list(range(len(texts)))
        rng.shuffle(order)
        assert find(EXACT_THEN_NEAR, texts, order=order) == expected


@pytest.mark.parametrize(
    "first, second, ngram, low, high",
    [
        (MARBLES, MARBLES_TOUCHED, 5, 0.9, 0.95),  # caught at the defaults: p ≈ 0.9996
        (MARBLES, MARBLES_RESAMPLED, 5, 0.6, 0.7),  # at the defaults p ≈ 0.37: mostly missed
        (MARBLES, MARBLES_RESAMPLED, 3, 0.7, 0.8),  # with 3-grams, 20 x 4: p ≈ 0.9996
        (MARBLES, MARBLES_COMPLEMENT, 3, 0.0, 0.05),  # with 3-grams, 20 x 4: p ≈ 10^-6
        (MARBLES, MARBLES_COMPLEMENT, 5, 0.0, 0.05),  # at the defaults p ≈ 0
    ],
)
def test_similarity_of_planted_traces_where_the_docstring_says(first, second, ngram, low, high):
    assert low <= jaccard(word_shingles(first, ngram), word_shingles(second, ngram)) <= high


@pytest.mark.parametrize(
    "units, copy",
    [
        (NEAR, MARBLES_TOUCHED),
        (EXACT_THEN_NEAR, MARBLES_TOUCHED),
        (NEAR_FOR_TRACES, MARBLES_RESAMPLED),
    ],
)
def test_a_lightly_edited_copy_is_a_near_duplicate_of_the_earlier(units, copy):
    # Whichever of the two comes first in the corpus is the one kept.
    assert find(units, [TERSE, MARBLES, LATEX, copy]) == {3: Duplicate(1, "near", "near_duplicate")}
    assert find(units, [copy, TERSE, MARBLES]) == {2: Duplicate(0, "near", "near_duplicate")}


@pytest.mark.parametrize("units", [NEAR, EXACT_THEN_NEAR, NEAR_FOR_TRACES])
def test_two_solutions_of_one_problem_and_other_problems_are_kept(units):
    texts = [MARBLES, MARBLES_COMPLEMENT, TERSE, LATEX, MARKDOWN, FRENCH, PROBLEM]
    assert find(units, texts) == {}


def test_a_planted_corpus_in_every_style():
    texts = [
        MARBLES,  # 0
        FRENCH,  # 1
        MARKDOWN,  # 2
        MARBLES_COMPLEMENT,  # 3: another solution, kept
        FRENCH.upper(),  # 4: exact of 1 (É casefolds to é)
        MARKDOWN.replace("**", ""),  # 5: near of 2 (bold markup is not words)
        MARBLES_TOUCHED,  # 6: near of 0
        LATEX,  # 7
        TERSE,  # 8
        "  " + LATEX.replace("\n", "\n\n"),  # 9: exact of 7
        TERSE.replace("\\boxed{391}", "\\boxed{ 391 }"),  # 10: near of 8 (a short text is one shingle)
    ]
    expected = {
        4: Duplicate(1, "exact", "duplicate"),
        9: Duplicate(7, "exact", "duplicate"),
        5: Duplicate(2, "near", "near_duplicate"),
        6: Duplicate(0, "near", "near_duplicate"),
        10: Duplicate(8, "near", "near_duplicate"),
    }
    assert find(EXACT_THEN_NEAR, texts) == expected
    assert find(EXACT_THEN_NEAR, texts, order=list(reversed(range(len(texts))))) == expected


def test_near_runs_on_what_exact_kept():
    # 1 is an exact copy of 0, 2 a near copy of both: near sees only 0 and 2, and 2 points at 0.
    texts = [MARBLES, MARBLES.upper(), MARBLES_TOUCHED]
    assert find(EXACT_THEN_NEAR, texts) == {
        1: Duplicate(0, "exact", "duplicate"),
        2: Duplicate(0, "near", "near_duplicate"),
    }


def test_a_drop_points_to_the_copy_that_stays_when_a_later_unit_drops_its_kept():
    # Near reads full-width letters as other words, exact as the same: near keeps 1 over 2, then exact
    # drops 1 for 0, so 2 points at 0.
    wide = MARBLES.replace("red", "ｒｅｄ").replace("blue", "ｂｌｕｅ")
    texts = [wide, MARBLES, MARBLES_TOUCHED]
    assert find([("near", NearDedup()), ("exact", ExactDedup())], texts) == {
        1: Duplicate(0, "exact", "duplicate"),
        2: Duplicate(0, "near", "near_duplicate"),
    }


@dataclass(frozen=True, slots=True)
class ScriptedKeys:
    """A unit whose bucket keys are written in the text: "k1 k2" puts the text in bucket k1 of the first
    column and k2 of the second; "-" is no key (never collides)."""

    on: tuple[str, ...] = ("problems", "traces")
    reason: ClassVar[str] = "scripted"

    @property
    def width(self) -> int:
        return 2

    def signer(self):
        fresh = iter(range(10**9, 2 * 10**9))

        def keys(text: str):
            return np.array(
                [next(fresh) if key == "-" else int(key) for key in text.split()], dtype=np.uint64
            )

        return keys


@pytest.mark.parametrize(
    "texts, kept",
    [
        # A~B in column 1, B~C in column 2, A and C share nothing: one group, kept at A.
        (["1 -", "1 2", "- 2"], {1: 0, 2: 0}),
        # The chain arrives from its far end: C~B, B~A.
        (["- 2", "1 2", "1 -"], {1: 0, 2: 0}),
        # A long chain through both columns closes to its lowest position, here the middle one.
        (["1 -", "1 2", "3 2", "3 4", "5 4", "5 -"][::-1], {position: 0 for position in range(1, 6)}),
        # Two chains stay two groups.
        (["1 -", "- 9", "1 2", "8 9", "- 2"], {2: 0, 3: 1, 4: 0}),
        (["1 -", "- -", "- -"], {}),
    ],
)
def test_groups_close_transitively_to_their_lowest_position(texts, kept):
    duplicates = find([("scripted", ScriptedKeys())], texts)
    assert duplicates == {
        position: Duplicate(first, "scripted", "scripted") for position, first in kept.items()
    }


def test_chains_close_over_many_items_in_any_order():
    # 2000 items in 200 chains of 10 (item i shares a key with i + 200 in alternating columns), added
    # shuffled: each chain closes to its first item.
    size, chains = 2000, 200
    texts = []
    for position in range(size):
        left = position if (position // chains) % 2 == 0 else position - chains
        right = position if (position // chains) % 2 == 1 else position - chains
        texts.append(f"{left if left >= 0 else '-'} {right if right >= 0 else '-'}")
    order = list(range(size))
    random.Random(3).shuffle(order)
    duplicates = find([("scripted", ScriptedKeys())], texts, order=order)
    assert duplicates == {
        position: Duplicate(position % chains, "scripted", "scripted") for position in range(chains, size)
    }


def test_texts_without_words_are_near_nothing():
    assert find(NEAR, ["", "$$ $$", "\\[ \\]"]) == {}
    assert find(EXACT, ["", "  \n"]) == {1: Duplicate(0, "exact", "duplicate")}


def test_positions_never_added_take_no_part():
    finder = DuplicateFinder(EXACT_THEN_NEAR, size=10, target="traces")
    finder.add(7, TERSE)
    finder.add(2, TERSE)
    assert finder.duplicates() == {7: Duplicate(2, "exact", "duplicate")}


def test_each_unit_runs_on_the_targets_it_lists():
    units = [("exact", ExactDedup(on=["problems"])), ("near", NearDedup(on=("traces",)))]
    texts = [MARBLES, MARBLES, MARBLES_TOUCHED]
    assert find(units, texts, target="problems") == {1: Duplicate(0, "exact", "duplicate")}
    assert find(units, texts, target="traces") == {
        1: Duplicate(0, "near", "near_duplicate"),
        2: Duplicate(0, "near", "near_duplicate"),
    }
    only_problems = [("exact", ExactDedup(on=["problems"]))]
    assert DuplicateFinder(only_problems, size=3, target="problems").active
    finder = DuplicateFinder(only_problems, size=3, target="traces")
    assert not finder.active
    finder.add(0, MARBLES)
    finder.add(1, MARBLES)
    assert finder.duplicates() == {}
    assert not DuplicateFinder([], size=3, target="traces").active


def test_adding_is_checked():
    finder = DuplicateFinder(EXACT, size=2, target="traces")
    finder.add(1, TERSE)
    with pytest.raises(ValueError, match="position 1 was added twice"):
        finder.add(1, TERSE)
    with pytest.raises(IndexError, match=r"position must be in \[0, 2\), got 2"):
        finder.add(2, TERSE)
    with pytest.raises(ValueError, match="target must be one of problems, traces, got 'answers'"):
        DuplicateFinder(EXACT, size=2, target="answers")


@pytest.mark.parametrize(
    "cls, params, message",
    [
        (ExactDedup, {"on": []}, "on must list one or both of problems, traces, got []"),
        (ExactDedup, {"on": ["answers"]}, "on must list one or both of problems, traces, got ['answers']"),
        (NearDedup, {"on": 3}, "on must list one or both of problems, traces, got 3"),
        (NearDedup, {"ngram": 0}, "ngram must be an integer >= 1, got 0"),
        (NearDedup, {"ngram": 2.5}, "ngram must be an integer >= 1, got 2.5"),
        (NearDedup, {"bands": 0}, "bands must be an integer >= 1, got 0"),
        (NearDedup, {"rows": True}, "rows must be an integer >= 1, got True"),
        (NearDedup, {"seed": -1}, "seed must be an integer >= 0, got -1"),
        (NearDedup, {"seed": 2**32}, "seed must be an integer in [0, 2^32), got 4294967296"),
    ],
)
def test_parameters_are_validated_naming_the_field(cls, params, message):
    with pytest.raises(ValueError) as error:
        cls(**params)
    assert str(error.value) == message


def test_on_is_stored_as_a_tuple():
    assert ExactDedup(on=["traces", "problems"]).on == ("traces", "problems")
    assert NearDedup(on="traces").on == ("traces",)
    assert hash(NearDedup(on=["traces"])) == hash(NearDedup(on=("traces",)))


def test_near_without_datasketch_says_how_to_install_it(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "datasketch" else find_spec(name, *args),
    )
    with pytest.raises(ValueError, match=r"near dedup needs datasketch: pip install 'factory\[curate\]'"):
        NearDedup()
    monkeypatch.undo()
    unit = NearDedup()
    monkeypatch.setitem(sys.modules, "datasketch", None)  # `import datasketch` now raises ImportError
    with pytest.raises(ImportError, match=NEAR_DEDUP_NEEDS.replace("[", r"\[").replace("]", r"\]")):
        DuplicateFinder([("near", unit)], size=1, target="traces")


def test_registry():
    assert DEDUP_UNITS == {"exact": ExactDedup, "near": NearDedup}
    assert set(DEFAULT_DEDUP) <= set(DEDUP_UNITS)


def test_units_build_through_the_config():
    config = build(RunConfig, {"curate": {"dedup": ["exact", {"near": {"ngram": 3}}]}})
    assert config.curate.dedup_units() == [("exact", ExactDedup()), ("near", NearDedup(ngram=3))]
    # `{name: value}` sets the first parameter, `on`.
    config = build(RunConfig, {"curate": {"dedup": [{"exact": ["problems"]}]}})
    assert config.curate.dedup_units() == [("exact", ExactDedup(on=("problems",)))]
    assert build(RunConfig, {}).curate.dedup_units() == []  # off unless asked for


@pytest.mark.parametrize(
    "dedup, message",
    [
        (["nope"], "curate.dedup[0] unknown unit 'nope'; choose from exact, near"),
        (["exact", {"near": {"ngram": 0}}], "curate.dedup[1].near ngram must be an integer >= 1, got 0"),
        (
            [{"near": {"on": ["answers"]}}],
            "curate.dedup[0].near on must list one or both of problems, traces",
        ),
        ([{"near": {"band": 4}}], "curate.dedup[0].near.band is not a parameter; valid: on, ngram, bands"),
        (["exact", "exact"], "curate.dedup lists 'exact' twice"),
    ],
)
def test_config_errors_name_the_field(dedup, message):
    with pytest.raises(FactoryError) as error:
        build(RunConfig, {"curate": {"dedup": dedup}})
    assert message in str(error.value)
