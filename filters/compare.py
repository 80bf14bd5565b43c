"""Compare two answers: their kind first (choice letter, words, set, tuple, interval, list), then the leaves.

The same function runs twice with different leaf comparisons: in the caller's process with
`plain_leaf`, which decides numbers and identical forms and raises `NeedsSympy` for anything else, and in
the deadline pool with the sympy leaf (`filters.symbolic`). So cheap answers never pay for a child
process, and both paths apply the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

from filters.normalize import MATH_WORDS, is_name, normalize_text, strip_assignment
from filters.numbers import numbers_match, parse_number

EQUAL, WRONG = "equal_value", "wrong_answer"


@dataclass(frozen=True, slots=True)
class Outcome:
    reason: str  # equal_value, exact_match, wrong_answer, unparseable_gold, unparseable_answer
    gold_form: str | None = None
    answer_form: str | None = None


class NeedsSympy(Exception):
    """The plain comparison cannot decide; the sympy one must."""


Leaf = Callable[[str, str, float], Outcome]


@lru_cache(maxsize=4096)  # a problem's gold is compared with each of its draws, and draws agree
def answer_form(text: str) -> str:
    """The normalised text that comparisons start from (and that exact match compares, case-folded).

    A worked equation with no variables states its value last: `13 + 20 = 33` is the answer 33.
    """
    form = normalize_text(text)
    builder = _SET_BUILDER.fullmatch(form)
    if builder:  # `\{x \mid x > 2\}` is the set its condition describes
        form = builder.group(1).strip()
    if not several_answers(form):  # `x_1 = 2, x_2 = 3` keeps both labels
        form = strip_assignment(form)
    if "=" in form and not _ORDER.search(form):
        sides = form.split("=")
        if all(side.strip() and not _LETTER.search(_LATEX_WORDS.sub("", side)) for side in sides):
            return sides[-1].strip()
    return form


_SET_BUILDER = re.compile(r"\\\{\s*[A-Za-z]\s*(?:\\in\s*\\mathbb\{?R\}?\s*)?(?:\\mid|\||:)\s*(.+?)\s*\\\}")
_YES_NO = {"yes", "no", "true", "false"}  # `No` is two letters, still a words answer
# A choice: the letter alone, or marked off by its punctuation and followed by the option's text (`B`, `(B)`,
# `B) 42`, `Option B`). A letter followed by anything else is said about, not chosen (`B is wrong`), or is
# part of an expression or a hedge (`B + C`, `A or C`, `A/B`).
_CHOICE_ANSWER = re.compile(
    r"(?:(?i:option|choice)\s*)?(?:\((?P<enclosed>[A-J])\)|(?P<plain>[A-J])(?P<mark>[.:)])?)(?P<text>.*)",
    re.DOTALL,
)
# What cannot open an option's text: an operator, a relation or a joiner makes the letter a term of an
# expression or a hedge (`(B) + (C)`, `(A) or (C)`); `B) -3` is an option's text.
_NOT_OPTION_TEXT = re.compile(
    r"\s*(?:[+*/^=<>,;|&]|-\s|\\(?:cdot|times|div|pm|cup|cap|neq|leq|geq)(?![A-Za-z])|(?i:or|and|vs)\b)"
)
# A second letter marked as a choice in the option's text: a hedge (`B) 42 or C) 43`); `B) A square` is text.
_OTHER_LETTER = re.compile(r"(?<![\w\\(])\(?[A-J]\)")
_GOLD_CHOICE = re.compile(r"\(?([A-J])\)?")
_WORDS = re.compile(r"[A-Za-z][A-Za-z '\-]*")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}(?![A-Za-z])")
_LATEX_WORDS = re.compile(r"\\(?:begin|end)\s*\{\w+\*?\}|\\[A-Za-z]+")
_LETTER = re.compile(r"[A-Za-z]")
_ORDER = re.compile(r"[<>]|\\(?:le|ge|leq|geq|ne|neq)(?![A-Za-z])")


def choice_letter(gold: str) -> str | None:
    """`B` for a multiple-choice gold (`B`, `(B)`, `\\text{(B)}`), else None. Lower-case letters are symbols."""
    match = _GOLD_CHOICE.fullmatch(normalize_text(gold))
    return match.group(1) if match else None


def chosen_letter(form: str) -> str | None:
    """The letter a choice answer picks (`B`, `(B)`, `B) 42`, `Option B`); None for anything else, a
    sentence, expression or hedge with a letter in it (`B is wrong`, `B + C`, `A or C`, `(A) or (C)`)."""
    match = _CHOICE_ANSWER.fullmatch(form)
    if match is None:
        return None
    text = match.group("text")
    if text and not (
        (match.group("enclosed") or match.group("mark"))
        and text[0].isspace()
        and not _NOT_OPTION_TEXT.match(text)
        and not _OTHER_LETTER.search(text)
    ):
        return None
    return match.group("enclosed") or match.group("plain")


def is_text_answer(form: str) -> bool:
    """Words, not maths (`Tuesday`, `no solution`): compared by exact match only."""
    return bool(_WORDS.fullmatch(form)) and bool(_WORD.search(form))


def is_prose(form: str) -> bool:
    """Words around the maths (`10 times 6 is 60`, `indeed 40`): nothing to parse, so cannot tell."""
    words = _WORD.findall(_LATEX_WORDS.sub(" ", form))
    return any(word.lower() not in MATH_WORDS for word in words)


def compare(gold: str, answer: str, rel_tol: float, leaf: Leaf) -> Outcome:
    """Compare two answers. `leaf` compares two answers that have no further structure."""
    gold_form, answer_form_ = answer_form(gold), answer_form(answer)
    if ("=" in gold_form) != ("=" in answer_form_):
        written = normalize_text(gold), normalize_text(answer)
        if all("=" in form for form in written):  # `y = -x + 3` and `x + y = 3`: two equations of a line
            gold_form, answer_form_ = written
    if not gold_form:
        return Outcome("unparseable_gold")
    if not answer_form_:
        return Outcome("unparseable_answer", gold_form)
    if gold_form.casefold() == answer_form_.casefold():
        return Outcome("exact_match", gold_form, answer_form_)
    letter = choice_letter(gold)
    if letter is not None:
        picked = chosen_letter(answer_form_)
        return Outcome(EQUAL if picked == letter else WRONG, letter, picked or answer_form_)
    if {gold_form.casefold(), answer_form_.casefold()} <= _YES_NO:  # exact match already failed
        return Outcome(WRONG, gold_form, answer_form_)
    gold_words, answer_words = is_text_answer(gold_form), is_text_answer(answer_form_)
    if gold_words and answer_words:
        return Outcome(WRONG, gold_form, answer_form_)  # exact match already failed
    if gold_words or answer_words:  # words against maths ("I give up" for 5): nothing to compare
        return Outcome("unparseable_gold" if gold_words else "unparseable_answer", gold_form, answer_form_)
    return _compare_forms(gold_form, answer_form_, rel_tol, leaf)


# Structures nest (a set of tuples of intervals); deeper than this is a decoy, not an answer.
MAX_DEPTH = 8


def _compare_forms(gold: str, answer: str, rel_tol: float, leaf: Leaf, depth: int = 0) -> Outcome:
    if depth > MAX_DEPTH:
        return Outcome("unparseable_answer", gold, answer)
    if depth and _other_labels(gold, answer):
        return Outcome(WRONG, gold, answer)
    gold, answer = _values_of_labels(gold, answer)
    if gold.casefold() == answer.casefold():
        return Outcome("exact_match", gold, answer)
    gold_ratio, answer_ratio = _ratio(gold), _ratio(answer)
    if gold_ratio or answer_ratio:
        clocks = _clock(gold), _clock(answer)
        if gold_ratio and answer_ratio and any(clocks):  # `10:00` is not `1:00`, `2:30` is not `4:60`
            return Outcome(EQUAL if clocks[0] == clocks[1] else WRONG, gold, answer)
        gold = _as_fraction(gold_ratio) if gold_ratio else gold
        answer = _as_fraction(answer_ratio) if answer_ratio else answer
    gold_matrix, answer_matrix = matrix(gold), matrix(answer)
    if gold_matrix is not None and answer_matrix is not None:
        return _compare_matrices(gold_matrix, answer_matrix, rel_tol, leaf, depth)
    gold_structure, answer_structure = structure(gold), structure(answer)
    if gold_structure is None and answer_structure is None:
        return leaf(gold, answer, rel_tol)
    if gold_structure is None or answer_structure is None:
        single = gold_structure or answer_structure
        assert single is not None
        if single.kind == "set" and len(single.items) == 1:  # `\{5\}` and `5`
            items = (single.items[0], answer) if gold_structure else (gold, single.items[0])
            return _compare_forms(*items, rel_tol, leaf, depth + 1)
        listed, other = (gold, answer) if gold_structure else (answer, gold)
        several = single.kind == "list" and len(set(single.items)) > 1 and not is_prose(listed)
        if several and parse_number(other) is not None:
            return Outcome(WRONG, gold, answer)  # several answers (a hedge, `2 or 3`) for one number
        return leaf(gold, answer, rel_tol)  # `x > 2` vs `(2, \infty)`, `\pm 2` vs `2, -2`: sympy knows
    equal, unparseable = _structures_equal(gold_structure, answer_structure, rel_tol, leaf, depth)
    if equal:
        return Outcome(EQUAL, gold, answer)
    return Outcome(unparseable or WRONG, gold, answer)


_EQUALS = re.compile(r"(?<![<>!\\])=")
_CLOCK = re.compile(r"(\d{1,2}):([0-5]\d)(?::[0-5]\d)?\s*((?:a|p)\.?\s?m\.?)?", re.IGNORECASE)
_RATIO = re.compile(r"[^:=]+(?::[^:=]+)+")


def labelled_value(form: str) -> str | None:
    """The stated value of a labelled answer, `(a, b) = (4, 1)`, `PQ = 7`, `S_1:S_2 = 3:8`,
    `m\\angle ABC = 40^\\circ`: the last side of an equation that starts with a name (`is_name`), when that
    side is a constant; else None. `x + 5 = 12` is an equation, not a label: it does not state 12."""
    if _ORDER.search(form) or several_answers(form):
        return None
    sides = _EQUALS.split(form)
    if len(sides) < 2 or not all(side.strip() for side in sides) or not is_name(sides[0]):
        return None
    last = sides[-1].strip()
    return None if _LETTER.search(_LATEX_WORDS.sub("", last)) else last


def several_answers(form: str) -> bool:
    """Answers joined by commas, semicolons, "and" or "or" outside brackets."""
    return ";" in form or len(_top_level(form, ",")) > 1 or bool(_JOINER.search(form))


def _values_of_labels(gold: str, answer: str) -> tuple[str, str]:
    """A labelled answer against a bare one is its value (`f(2) = 3` against `3` states 3); two equations
    are compared as equations (`x + y = 3` is not `x - y = 3`)."""
    gold_value, answer_value = labelled_value(gold), labelled_value(answer)
    if (gold_value is None) == (answer_value is None) or _one_equation(gold) and _one_equation(answer):
        return gold, answer
    return gold_value or gold, answer_value or answer


def _one_equation(form: str) -> bool:
    return bool(_EQUALS.search(form)) and not several_answers(form)


def _other_labels(gold: str, answer: str) -> bool:
    """Two labelled values of different names (`b = 3` and `c = 3` in a system) are different answers."""
    gold_label, answer_label = _label(gold), _label(answer)
    return bool(gold_label and answer_label and gold_label.casefold() != answer_label.casefold())


def _ratio(form: str) -> tuple[str, ...] | None:
    if "," in form or not _RATIO.fullmatch(form):
        return None
    return tuple(part.strip() for part in form.split(":"))


def _clock(form: str) -> tuple[int, int, str] | None:
    match = _CLOCK.fullmatch(form)
    if match is None:
        return None
    half = (match.group(3) or "").lower().replace(".", "").replace(" ", "")
    return int(match.group(1)), int(match.group(2)), half


def _as_fraction(ratio: tuple[str, ...]) -> str:
    """`5:12` is the value 5/12; `1:2:3` is compared part by part."""
    if len(ratio) > 2:
        return "(" + ", ".join(ratio) + ")"
    return rf"\frac{{{ratio[0]}}}{{{ratio[1]}}}"


_MATRIX = re.compile(
    r"[\[(]?\s*\\begin\{(?P<env>[pbvBV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?"
    r"(?P<body>.*)\\end\{(?P=env)\}\s*[\])]?",
    re.DOTALL,
)
_ROW_BREAK = re.compile(r"\\\\(?:\[[^\]]*\])?")


def matrix(form: str) -> tuple[tuple[str, ...], ...] | None:
    """The rows of a matrix in any environment (`pmatrix`, `bmatrix`, `vmatrix`, `array` in brackets)."""
    match = _MATRIX.fullmatch(form.strip())
    if match is None:
        return None
    rows = [row for row in _ROW_BREAK.split(match.group("body")) if row.strip() and row.strip() != "\\hline"]
    cells = tuple(tuple(cell.strip() for cell in row.replace("\\hline", "").split("&")) for row in rows)
    if not cells or len(cells) * len(cells[0]) > MAX_ITEMS:
        return None
    return cells


def _compare_matrices(
    gold: tuple[tuple[str, ...], ...],
    answer: tuple[tuple[str, ...], ...],
    rel_tol: float,
    leaf: Leaf,
    depth: int,
) -> Outcome:
    gold_text, answer_text = str(gold), str(answer)
    if [len(row) for row in gold] != [len(row) for row in answer]:
        return Outcome(WRONG, gold_text, answer_text)  # another shape
    for gold_row, answer_row in zip(gold, answer, strict=True):
        for gold_cell, answer_cell in zip(gold_row, answer_row, strict=True):
            outcome = _compare_forms(gold_cell, answer_cell, rel_tol, leaf, depth + 1)
            if outcome.reason not in (EQUAL, "exact_match"):
                return Outcome(_unparseable(outcome) or WRONG, gold_text, answer_text)
    return Outcome(EQUAL, gold_text, answer_text)


@dataclass(frozen=True, slots=True)
class Structure:
    kind: str  # set (`\{…\}`), ordered (`(…)`, `[…]`, `(…]`, `\langle…\rangle`), list (bare `a, b`)
    opening: str
    closing: str
    items: tuple[str, ...]


_BRACKET_TOKEN = re.compile(r"\\\{|\\\}|\\langle|\\rangle|\\[A-Za-z]+|[()\[\]{},]")
_OPENING = {"\\{", "\\langle", "(", "[", "{"}
_CLOSING = {"\\}", "\\rangle", ")", "]", "}"}
_STRUCTURAL = _OPENING | _CLOSING | {","}
_ANGLE = {"\\langle": "(", "\\rangle": ")"}
MAX_ITEMS = 64


def structure(form: str) -> Structure | None:
    """The top-level shape of an answer, or None for a leaf (a number, an expression, a relation).

    Answers joined by `;` (the solutions of a system: `a=3, b=1; a=6, b=4`), or by "and"/"or" when they are
    not conditions (`2 and 3`; `x < 1 or x > 2` is one set), form a list."""
    if form.count("\\pm") == 1 and "," not in form:  # `1 \pm \sqrt{2}` is two answers
        before, _, after = form.partition("\\pm")
        return Structure("list", "", "", (f"{before}+{after}".strip(), f"{before}-{after}".strip()))
    groups = _top_level(form, ";")
    if len(groups) > 1:
        return Structure("list", "", "", tuple(groups)) if len(groups) <= MAX_ITEMS else None
    if not _ORDER.search(form) and _JOINER.search(form):  # `1, 2 and 3`: "and" is a comma here
        form = ", ".join(item.strip() for item in _JOINER.split(form) if item.strip())
    found = _enclosed_or_listed(form)
    if found is not None and found.kind == "list":
        labels = [_label(item) for item in found.items]
        if all(labels) and len({label.partition("_")[0] for label in labels if label}) == len(labels):
            # `y = 3, x = 2` is the pair (x, y) = (2, 3); roots `x_1, x_2` stay an unordered list.
            items = tuple(item for _, item in sorted(zip(labels, found.items, strict=True)))
            return Structure("ordered", "(", ")", items)
    return found


_JOINER = re.compile(r"\s+(?:and|or)\s+", re.IGNORECASE)
_LABEL = re.compile(r"([A-Za-z](?:_\{?\w+\}?)?)\s*=(?!=)")


def _label(item: str) -> str | None:
    match = _LABEL.match(item)
    return match.group(1) if match and labelled_value(item) is not None else None


def _top_level(text: str, separator: str) -> list[str]:
    """`text` split at `separator` where no bracket is open."""
    bounds = [-len(separator), *_top_level_positions(text, separator), len(text)]
    parts = (
        text[start + len(separator) : end].strip() for start, end in zip(bounds, bounds[1:], strict=False)
    )
    return [part for part in parts if part]


def _enclosed_or_listed(form: str) -> Structure | None:
    tokens = [m for m in _BRACKET_TOKEN.finditer(form) if m.group() in _STRUCTURAL]
    depth, commas = 0, []
    enclosed = bool(tokens) and tokens[0].start() == 0 and tokens[0].group() in _OPENING
    for token in tokens:
        text = token.group()
        if text in _OPENING:
            depth += 1
        elif text in _CLOSING:
            depth -= 1
            if depth == 0 and token.end() != len(form):
                enclosed = False
        elif depth == 0:
            commas.append(token.start())
    if commas:
        if parse_number(form) is not None:
            return None  # `7,425,000`
        items = _split(form, commas)
        return Structure("list", "", "", items) if len(items) <= MAX_ITEMS else None
    if not enclosed or depth != 0 or tokens[-1].end() != len(form):
        return None
    opening, closing = tokens[0].group(), tokens[-1].group()
    inner = form[tokens[0].end() : len(form) - len(closing)].strip()
    inner_commas = _top_level_positions(inner)
    items = _split(inner, inner_commas)
    if opening in ("\\{", "{"):  # `{1, 2}` is how sets are written outside LaTeX
        return Structure("set", opening, closing, items) if len(items) <= MAX_ITEMS else None
    if len(items) < 2 or len(items) > MAX_ITEMS:
        return None  # `(5)` is a parenthesised leaf
    return Structure("ordered", _ANGLE.get(opening, opening), _ANGLE.get(closing, closing), items)


@cache
def _tokens_with(separator: str) -> re.Pattern[str]:
    return re.compile(rf"{_BRACKET_TOKEN.pattern}|{re.escape(separator)}")


def _top_level_positions(text: str, separator: str = ",") -> list[int]:
    """Where `separator` stands in `text` with no bracket open."""
    depth, positions = 0, []
    for token in _tokens_with(separator).finditer(text):
        value = token.group()
        if value in _OPENING:
            depth += 1
        elif value in _CLOSING:
            depth -= 1
        elif value == separator and depth == 0:
            positions.append(token.start())
    return positions


def _split(text: str, commas: list[int]) -> tuple[str, ...]:
    bounds = [-1, *commas, len(text)]
    items = (text[start + 1 : end].strip() for start, end in zip(bounds, bounds[1:], strict=False))
    return tuple(re.sub(r"^(?:and|or)\s+", "", item) for item in items if item)


def _structures_equal(
    gold: Structure, answer: Structure, rel_tol: float, leaf: Leaf, depth: int
) -> tuple[bool, str | None]:
    """(equal, the unparseable reason that made them unequal, if any)."""
    unordered = {"set", "list"}
    if gold.kind in unordered and answer.kind in unordered:
        return _match_unordered(_unique(gold.items), _unique(answer.items), rel_tol, leaf, depth)
    if "set" in (gold.kind, answer.kind):
        return False, None  # a set is not a tuple or an interval
    if gold.kind == "ordered" and answer.kind == "ordered":
        if (gold.opening, gold.closing) != (answer.opening, answer.closing):
            return False, None  # `[1, 2]` vs `(1, 2]`: the ends of an interval matter
    if len(gold.items) != len(answer.items):
        return False, None
    for gold_item, answer_item in zip(gold.items, answer.items, strict=True):
        outcome = _compare_forms(gold_item, answer_item, rel_tol, leaf, depth + 1)
        if outcome.reason not in (EQUAL, "exact_match"):
            return False, _unparseable(outcome)
    return True, None


def _unique(items: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(items))


def _match_unordered(
    gold: list[str], answer: list[str], rel_tol: float, leaf: Leaf, depth: int
) -> tuple[bool, str | None]:
    if len(gold) != len(answer):
        return False, None
    remaining = list(answer)
    for gold_item in gold:
        unparseable = None
        for index, answer_item in enumerate(remaining):
            outcome = _compare_forms(gold_item, answer_item, rel_tol, leaf, depth + 1)
            if outcome.reason in (EQUAL, "exact_match"):
                del remaining[index]
                break
            unparseable = unparseable or _unparseable(outcome)
        else:
            return False, unparseable
    return True, None


def _unparseable(outcome: Outcome) -> str | None:
    return outcome.reason if outcome.reason.startswith("unparseable") else None


def plain_leaf(gold: str, answer: str, rel_tol: float) -> Outcome:
    """Identical forms and plain numbers; anything else needs sympy."""
    if gold.casefold() == answer.casefold():
        return Outcome("exact_match", gold, answer)
    gold_number, answer_number = parse_number(gold), parse_number(answer)
    if gold_number is not None and answer_number is not None:
        equal = numbers_match(gold_number, answer_number, rel_tol)
        return Outcome(EQUAL if equal else WRONG, str(gold_number), str(answer_number))
    if gold_number is None and is_prose(gold):
        return Outcome("unparseable_gold", gold)
    if answer_number is None and is_prose(answer):
        return Outcome("unparseable_answer", gold, answer)
    raise NeedsSympy
