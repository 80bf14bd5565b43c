"""Decontamination against small evaluation sets in all three formats: planted copies, quotes and near-copies
are caught with the item, row and n-gram they match; clean texts sharing fewer words are not; every flaw
in an evaluation file is one FactoryError line naming the file and line."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory.config import RunConfig, build
from factory.errors import FactoryError
from filters import decontaminate
from filters.decontaminate import Decontaminator, EvalItem, Match, read_eval_items
from filters.text import words

# Competition problems, one per line; line 3 is blank, so items sit on lines 1, 2, 4, 5, 6.
REMAINDER = r"Find the remainder when $7^{2027} + 11^{2027}$ is divided by 18."
OLYMPIAD = [
    r"How many ordered pairs $(m, n)$ of positive integers satisfy $m^2 + 3n^2 = 217$ and $\gcd(m, n) = 1$?",
    REMAINDER,
    None,
    r"Compute $\dbinom{23}{4}$.",  # 4 words: a short item, matched whole
    r"Evaluate $17!$.",  # 2 words: matches only a text of exactly its words
    r"Simplify $\sqrt{392}$.",  # 3 words: the shortest item matched
]

# Word problems in a spreadsheet export (BOM, a cell with a comma, a cell over two lines).
MARTA = (
    "Marta bikes to the library at 12 miles per hour and walks home along the same road at 4 miles per "
    "hour. If the round trip takes 2 hours, how far is the library from her house?"
)
GARDEN = (
    "A rectangular garden is three times as long as it is wide. Its perimeter is 96 feet. What is the "
    "area of the garden, in square feet?"
)
MARBLES = (
    "A bag holds 5 red marbles and 7 green marbles.\nTwo marbles are drawn at random without "
    "replacement. What is the probability that both are the same colour?"
)
WORD_PROBLEMS = [MARTA, GARDEN, MARBLES]

# Geometry, in Parquet.
TRIANGLE = (
    r"In triangle $ABC$, $AB = 13$, $BC = 14$ and $CA = 15$. Let $H$ be the orthocenter. "
    r"Find the length of $AH$."
)
HEXAGON = (
    "A regular hexagon has side length 6. A point is chosen uniformly at random inside it. What is the "
    "probability that the point is closer to the center than to any vertex?"
)
CHORD = (
    r"Points $P$ and $Q$ lie on a circle of radius 10 so that chord $PQ$ has length 12. Find the distance "
    "from the center of the circle to the chord."
)
GEOMETRY = [TRIANGLE, HEXAGON, CHORD]


def write_jsonl(path: Path, problems: list[str | None]) -> Path:
    lines = [
        "" if text is None else json.dumps({"id": f"o{number}", "problem": text, "answer": "?"})
        for number, text in enumerate(problems, start=1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, questions: list[str]) -> Path:
    rows = ["id,question,answer"] + [
        f'w{number},"{text}",{number}' for number, text in enumerate(questions, start=1)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")  # with a BOM
    return path


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def sets(tmp_path: Path) -> dict[str, Path]:
    return {
        "olympiad": write_jsonl(tmp_path / "olympiad.jsonl", OLYMPIAD),
        "word": write_csv(tmp_path / "word_problems.csv", WORD_PROBLEMS),
        "geometry": write_parquet(
            tmp_path / "geometry.parquet", {"id": ["g1", "g2", "g3"], "question": GEOMETRY}
        ),
    }


@pytest.fixture
def decontaminator(sets: dict[str, Path]) -> Decontaminator:
    return Decontaminator(
        [
            (str(sets["olympiad"]), "problem"),
            (str(sets["word"]), "question"),
            (str(sets["geometry"]), "question"),
        ]
    )


def test_reads_all_three_formats_with_their_row_numbers(sets: dict[str, Path]) -> None:
    olympiad = read_eval_items(str(sets["olympiad"]), "problem")
    assert [(item.row, item.text) for item in olympiad] == [
        (line, text) for line, text in enumerate(OLYMPIAD, start=1) if text is not None
    ]  # JSONL: the line number, blank lines counted
    word = read_eval_items(str(sets["word"]), "question")
    assert [(item.row, item.text) for item in word] == [(1, MARTA), (2, GARDEN), (3, MARBLES)]  # data rows
    assert not word[0].text.startswith("\ufeff")
    geometry = read_eval_items(str(sets["geometry"]), "question")
    assert geometry[2] == EvalItem(str(sets["geometry"]), 3, CHORD)


# A problem that is an evaluation item with only spacing, case, punctuation or LaTeX markup changed.
REWORDED = [
    # case, a hyphenated unit, a missing space, stray punctuation
    (
        (
            "MARTA bikes to the library at 12 miles-per-hour , and walks home along the same road at 4 miles "
            "per hour;if the round trip takes 2 hours,how far is the library from her house ?!"
        ),
        "word",
        1,
        MARTA,
        "marta bikes to the library at 12 miles",
    ),
    # the LaTeX dollars and braces dropped
    (
        "find the remainder when 7^2027 + 11^2027 is divided by 18",
        "olympiad",
        2,
        REMAINDER,
        "find the remainder when 7 2027 11 2027",
    ),
    # line breaks and runs of spaces, no math mode
    (
        "In triangle ABC,\nAB=13,   BC=14 and CA=15.\n\nLet H be the orthocenter; find the length of AH.",
        "geometry",
        1,
        TRIANGLE,
        "in triangle abc ab 13 bc 14 and",
    ),
]


@pytest.mark.parametrize("problem, set_name, row, text, ngram", REWORDED)
def test_reworded_problem_is_caught_with_the_item_it_copies(
    decontaminator: Decontaminator,
    sets: dict[str, Path],
    problem: str,
    set_name: str,
    row: int,
    text: str,
    ngram: str,
) -> None:
    assert words(problem) == words(text)  # the premise: the same words
    match = decontaminator.match(problem)
    assert match == Match(EvalItem(str(sets[set_name]), row, text), "ngram", ngram=ngram)
    assert match.to_dict() == {
        "eval_set": str(sets[set_name]),
        "eval_row": row,
        "eval_text": text,
        "method": "ngram",
        "ngram": ngram,
    }


# Traces that solve another problem and quote an evaluation problem on the way.
QUOTING_TRACES = [
    # English, the quote mid-way through the reasoning
    (
        r"""<think>
We need the sum of the positive divisors of 360 = 2^3 * 3^2 * 5; the divisor-sum function is
multiplicative. This reminds me of: Find the remainder when $7^{2027} + 11^{2027}$ is divided by 18.
That one needed Euler's theorem; here sigma(2^3) * sigma(3^2) * sigma(5) = 15 * 13 * 6 = 1170.
</think>
The sum of the divisors is \boxed{1170}.""",
        "olympiad",
        2,
        "find the remainder when 7 2027 11 2027",
    ),
    # French, quoting an English problem between guillemets, LaTeX inline
    (
        r"""Commençons par poser $s = 6$ et notons $O$ le centre. Rappel d'un exercice voisin :
« A regular hexagon has side length 6. A point is chosen uniformly at random inside it. »
Ici la question est différente : on cherche l'aire, $\frac{3\sqrt{3}}{2} s^2 = 54\sqrt{3}$.
Donc l'aire vaut $\boxed{54\sqrt{3}}$.""",
        "geometry",
        2,
        "a regular hexagon has side length 6 a",
    ),
    # LaTeX display, the quote inside \text{}
    (
        r"""Our field is a square of perimeter 96 feet, so each side is $96/4 = 24$ feet.
\begin{align*}
\text{(Compare: }&\text{a rectangular garden is three times as long as it is wide.)}\\
A &= 24^2 = 576.
\end{align*}
So the area is $\boxed{576}$ square feet.""",
        "word",
        2,
        "a rectangular garden is three times as long",
    ),
    # Chinese with no space before the quote: each Han character is a word, so the quote starts at "Find"
    (
        (
            "我们先算 360 的约数和。这让我想起Find the remainder when $7^{2027} + 11^{2027}$ is divided by 18，"
            "但这里只需要 15 × 13 × 6 = 1170。答案是 $\\boxed{1170}$。"
        ),
        "olympiad",
        2,
        "find the remainder when 7 2027 11 2027",
    ),
]


@pytest.mark.parametrize("trace, set_name, row, ngram", QUOTING_TRACES)
def test_trace_quoting_an_evaluation_problem_is_caught(
    decontaminator: Decontaminator, sets: dict[str, Path], trace: str, set_name: str, row: int, ngram: str
) -> None:
    match = decontaminator.match(trace, fuzzy=False)
    assert match is not None
    assert (match.item.set_path, match.item.row, match.method, match.ngram) == (
        str(sets[set_name]),
        row,
        "ngram",
        ngram,
    )


# Shares "bikes to the library at 12 miles" with MARTA (7 words), and nothing longer with any item.
SEVEN_SHARED = (
    "Jonah bikes to the library at 12 miles an hour and takes the bus back at 30 miles an hour. "
    "What is his average speed for the round trip?"
)


def test_problem_sharing_seven_words_is_clean_at_eight(sets: dict[str, Path]) -> None:
    pairs = [
        (str(sets["olympiad"]), "problem"),
        (str(sets["word"]), "question"),
        (str(sets["geometry"]), "question"),
    ]
    assert Decontaminator(pairs, ngram=8).match(SEVEN_SHARED) is None
    match = Decontaminator(pairs, ngram=7).match(SEVEN_SHARED)  # the overlap is exactly 7 words
    assert match is not None and match.ngram == "bikes to the library at 12 miles"
    assert match.item.text == MARTA


# Shares "a rectangular garden is three times as long as" with GARDEN: 9 words.
NINE_SHARED = (
    "A rectangular garden is three times as long as its width and has a perimeter of 120 feet. "
    "How long is its diagonal?"
)


@pytest.mark.parametrize(
    "ngram, expected",
    [
        (5, "a rectangular garden is three"),  # the first 5 shared words
        (9, "a rectangular garden is three times as long as"),  # the whole overlap
        (10, None),  # one word more than the overlap
        (12, None),  # datatrove's length
    ],
)
def test_ngram_length_is_configurable(sets: dict[str, Path], ngram: int, expected: str | None) -> None:
    match = Decontaminator([(str(sets["word"]), "question")], ngram=ngram).match(NINE_SHARED)
    assert (match.ngram if match else None) == expected


# REMAINDER with two numbers changed: no 8-gram in common (the longest shared run is 6 words).
NEAR_COPY = r"Find the remainder when $7^{2027} + 13^{2027}$ is divided by 16."


def test_fuzzy_catches_a_near_copy_the_ngrams_miss(sets: dict[str, Path]) -> None:
    pairs = [(str(sets["olympiad"]), "problem"), (str(sets["geometry"]), "question")]
    assert Decontaminator(pairs).match(NEAR_COPY) is None
    fuzzy = Decontaminator(pairs, fuzzy=90)
    match = fuzzy.match(NEAR_COPY)
    assert match is not None
    assert (match.method, match.item.row, match.item.text, match.ngram) == ("fuzzy", 2, REMAINDER, None)
    assert match.score is not None and 90 <= match.score < 100
    assert match.to_dict()["score"] == round(match.score, 2) and "ngram" not in match.to_dict()
    assert fuzzy.match(NEAR_COPY, fuzzy=False) is None  # how traces are checked
    assert fuzzy.match("What is the largest prime factor of 9991?") is None  # below the threshold


def test_ngram_match_comes_before_fuzzy(sets: dict[str, Path]) -> None:
    match = Decontaminator([(str(sets["olympiad"]), "problem")], fuzzy=50).match(REMAINDER)
    assert match is not None and match.method == "ngram"


def test_fuzzy_without_rapidfuzz_says_what_to_install(
    sets: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)  # `import rapidfuzz` now raises ImportError
    with pytest.raises(
        FactoryError, match=r"fuzzy decontamination needs rapidfuzz: pip install 'factory\[curate\]'"
    ):
        Decontaminator([(str(sets["olympiad"]), "problem")], fuzzy=95)
    Decontaminator([(str(sets["olympiad"]), "problem")])  # without fuzzy it is not needed


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            r"Please compute $\dbinom{23}{4}$ using Pascal's rule.",
            "compute dbinom 23 4",
        ),  # inside a longer text
        (r"compute \dbinom{23}{4}", "compute dbinom 23 4"),  # the whole text is the item
        (r"Compute $\binom{23}{4}$.", None),  # \binom is another word than \dbinom
        (r"Simplify $\sqrt{392}$ first, then square it.", "simplify sqrt 392"),  # a 3-word item counts
        (r"Evaluate $17!$ modulo 19 using Wilson's theorem.", None),  # a 2-word item is not matched inside
        (r"evaluate 17!", "evaluate 17"),  # ... only by a text of exactly its words
        (r"Compute $\dbinom{23}{5}$.", None),  # another number
    ],
)
def test_short_items_match_as_a_whole_run_of_words(
    decontaminator: Decontaminator, text: str, expected: str | None
) -> None:
    match = decontaminator.match(text)
    assert (match.ngram if match else None) == expected


def test_leftmost_quote_is_reported_and_the_lowest_item_on_ties(
    sets: dict[str, Path], tmp_path: Path
) -> None:
    # The geometry set quoted before the olympiad one: the leftmost n-gram wins over the lower item.
    both = f"First, {HEXAGON} Then: {REMAINDER}"
    pairs = [(str(sets["olympiad"]), "problem"), (str(sets["geometry"]), "question")]
    match = Decontaminator(pairs).match(both)
    assert match is not None and match.item.text == HEXAGON
    # The same problem in two sets: the set listed first holds the lower item.
    copy = (str(write_jsonl(tmp_path / "copy.jsonl", [CHORD])), "problem")
    geometry = (str(sets["geometry"]), "question")
    for first, second in [(copy, geometry), (geometry, copy)]:
        match = Decontaminator([first, second]).match(CHORD)
        assert match is not None and match.item.set_path == first[0]


def test_short_item_and_ngram_at_the_same_place_report_the_lower_item(tmp_path: Path) -> None:
    short = (str(write_jsonl(tmp_path / "short.jsonl", [r"Compute $\dbinom{23}{4}$."])), "problem")
    text = r"Compute $\dbinom{23}{4}$ and $\dbinom{23}{19}$, and explain why the two are equal."
    long = (str(write_jsonl(tmp_path / "long.jsonl", [text])), "problem")
    assert Decontaminator([short, long]).match(text).ngram == "compute dbinom 23 4"
    assert Decontaminator([long, short]).match(text).ngram == "compute dbinom 23 4 and dbinom 23 19"


def test_a_key_collision_is_never_reported(sets: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Every gram gets key 0, so every lookup lands on item 0: only its own words may match.
    monkeypatch.setattr(decontaminate, "hash", lambda gram: 0, raising=False)
    pairs = [(str(sets["olympiad"]), "problem"), (str(sets["geometry"]), "question")]
    decontaminator = Decontaminator(pairs)
    for clean in [NINE_SHARED, SEVEN_SHARED, r"Please compute $\dbinom{23}{4}$."]:
        assert decontaminator.match(clean) is None
    assert decontaminator.match(f"We saw: {OLYMPIAD[0]}").item.row == 1


FUZZY_QUERIES = [
    NEAR_COPY,
    SEVEN_SHARED,
    NINE_SHARED,
    GARDEN.replace("garden", "yard"),
    MARTA[:60],
    "Find x.",
]


@pytest.mark.parametrize("threshold", [30, 60, 85, 95, 100])
def test_fuzzy_scores_only_plausible_lengths_and_finds_the_same_best(
    sets: dict[str, Path], threshold: float
) -> None:
    from rapidfuzz import fuzz

    pairs = [
        (str(sets["olympiad"]), "problem"),
        (str(sets["word"]), "question"),
        (str(sets["geometry"]), "question"),
    ]
    decontaminator = Decontaminator(pairs, ngram=60, fuzzy=threshold)  # ngram 60: only fuzzy can match
    normalised = [" ".join(words(item.text)) for item in decontaminator.items]
    for query in FUZZY_QUERIES:
        scores = [fuzz.ratio(" ".join(words(query)), text) for text in normalised]
        best = max(range(len(scores)), key=lambda number: (scores[number], -number))  # lowest item on ties
        expected = (decontaminator.items[best], scores[best]) if scores[best] >= threshold else None
        match = decontaminator.match(query)
        assert (match and (match.item, match.score)) == expected


def test_every_item_finds_itself(decontaminator: Decontaminator) -> None:
    for item in decontaminator.items:
        match = decontaminator.match(item.text)
        assert match is not None and match.item == item


def test_detail_cuts_the_item_text_at_300_characters(tmp_path: Path) -> None:
    long_problem = "Let $f$ be a function such that " + " and ".join(
        f"$f({k}) = {k * k + 1}$" for k in range(40)
    )
    path = write_jsonl(tmp_path / "long.jsonl", [long_problem])
    match = Decontaminator([(str(path), "problem")]).match(long_problem)
    assert match is not None and len(long_problem) > 300
    assert match.to_dict()["eval_text"] == long_problem[:300]


def test_sets_summary_names_each_set_and_its_content(
    sets: dict[str, Path], decontaminator: Decontaminator
) -> None:
    summary = decontaminator.sets_summary()
    assert summary == [
        {
            "path": str(sets[name]),
            "field": field,
            "items": items,
            "sha256": hashlib.sha256(sets[name].read_bytes()).hexdigest()[:16],
        }
        for name, field, items in [
            ("olympiad", "problem", 5),
            ("word", "question", 3),
            ("geometry", "question", 3),
        ]
    ]


# --- errors in evaluation files ----------------------------------------------------------------------------


def _jsonl(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


ERRORS = [
    # (file name, writer, field, expected message after the path)
    ("absent.jsonl", None, "problem", ": evaluation set not found"),
    ("folder.jsonl", lambda path: path.mkdir(), "problem", ": cannot read the evaluation set"),
    (
        "items.txt",
        lambda path: path.write_text("Find x.\n"),
        "problem",
        ": cannot tell the evaluation set's format from the suffix '.txt'",
    ),
    (
        "broken.jsonl",
        lambda path: _jsonl(
            path,
            ['{"problem": "Find the sum of the roots of x^2 - 5x + 6."}', "", '{"problem": "Solve 2x = 8"'],
        ),
        "problem",
        ":3: not valid JSON",
    ),
    (
        "array.json",
        lambda path: path.write_text('[{"problem": "Find x."}]\n'),
        "problem",
        ":1: expected a JSON object per line, got list",
    ),
    (
        "renamed.jsonl",
        lambda path: _jsonl(
            path, ['{"problem": "What is 6 times 7?"}', '{"id": 2, "question": "What is 8 times 9?"}']
        ),
        "problem",
        ":2: field 'problem' is missing (fields present: id, question)",
    ),
    (
        "number.jsonl",
        lambda path: _jsonl(path, ['{"problem": 42}']),
        "problem",
        ":1: field 'problem' must be text, got int",
    ),
    (
        "null.jsonl",
        lambda path: _jsonl(path, ['{"problem": null}']),
        "problem",
        ":1: field 'problem' must be text, got null",
    ),
    (
        "blank.jsonl",
        lambda path: _jsonl(path, ['{"problem": "Find x."}', '{"problem": "  $$ "}']),
        "problem",
        ":2: field 'problem' is empty",
    ),
    ("empty.jsonl", lambda path: path.write_text("\n\n"), "problem", ": the evaluation set has no items"),
    (
        "latin1.jsonl",
        lambda path: path.write_bytes(b'{"problem": "x"}\n{"problem": "caf\xe9"}\n'),
        "problem",
        ":2: not UTF-8 text",
    ),
    (
        "columns.csv",
        lambda path: path.write_text("id,problem,answer\n1,What is 2+2?,4\n"),
        "question",
        ":1: no column 'question' (columns: id, problem, answer)",
    ),
    (
        "gap.csv",
        lambda path: path.write_text("id,question\n1,What is 2+2?\n2,\n"),
        "question",
        ":3: field 'question' is empty",
    ),
    (
        "ragged.csv",
        lambda path: path.write_text("id,question\n1,What is 2+2?,4\n"),
        "question",
        ":2: the row has more cells than the header",
    ),
    (
        "header.csv",
        lambda path: path.write_text("id,question\n"),
        "question",
        ": the evaluation set has no items",
    ),
    ("nothing.csv", lambda path: path.write_text(""), "question", ": the evaluation set has no items"),
    (
        "columns.parquet",
        lambda path: write_parquet(path, {"id": ["a"], "problem": ["Find x."]}),
        "question",
        ": no column 'question' (columns: id, problem)",
    ),
    (
        "holes.parquet",
        lambda path: write_parquet(path, {"question": ["What is 2+2?", None]}),
        "question",
        ": row 2: field 'question' must be text, got null",
    ),
    (
        "ints.parquet",
        lambda path: write_parquet(path, {"question": [7]}),
        "question",
        ": row 1: field 'question' must be text, got int",
    ),
    (
        "none.parquet",
        lambda path: write_parquet(path, {"question": pa.array([], pa.string())}),
        "question",
        ": the evaluation set has no items",
    ),
    (
        "garbage.parquet",
        lambda path: path.write_bytes(b"PAR1 this is not parquet"),
        "question",
        ": not a readable Parquet file",
    ),
]


@pytest.mark.parametrize("name, write, field, expected", ERRORS)
def test_flaws_in_an_evaluation_file_are_one_line(
    tmp_path: Path, name: str, write, field: str, expected: str
) -> None:
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(FactoryError) as error:
        read_eval_items(str(path), field)
    message = str(error.value)
    assert message.startswith(str(path) + expected)
    assert "\n" not in message


def test_decontaminator_raises_the_same_error(tmp_path: Path, sets: dict[str, Path]) -> None:
    with pytest.raises(FactoryError, match=r"olympiad\.jsonl:1: field 'question' is missing"):
        Decontaminator([(str(sets["geometry"]), "question"), (str(sets["olympiad"]), "question")])


@pytest.mark.parametrize(
    "section, key",
    [
        ({"ngram": 0}, "curate.decontaminate.ngram"),
        ({"fuzzy": 150}, "curate.decontaminate.fuzzy"),
        ({"on": ["answers"]}, "curate.decontaminate.on[0]"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, section: dict, key: str) -> None:
    data = {
        "curate": {
            "decontaminate": {
                "sets": [{"path": str(tmp_path / "eval.jsonl"), "field": "question"}],
                **section,
            }
        }
    }
    with pytest.raises(FactoryError, match="^config: " + re.escape(key) + " "):
        build(RunConfig, data)
