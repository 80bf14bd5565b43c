"""Find the final answer in a teacher's response.

Where the answer is looked for, strongest marker first (the first that yields an answer wins):

1. Only the text after the last `</think>` counts; a response that opened `<think>` and never closed it
   has no final answer. Inside the last `<answer>…</answer>` the same rules apply, and its whole content
   is the answer when it has no marker.
2. `\\boxed{}` / `\\fbox{}` with balanced braces. Several boxes: the last complete box, joined with the
   other boxes on its line (`\\boxed{2}, \\boxed{3}` → `2, 3`); a box on an earlier line was superseded.
   Two different boxes on one line (a hedge: `\\boxed{2} or \\boxed{3}`) therefore never match one gold.
3. The data set's own patterns (regexes; the first group, or the whole match, is the answer).
4. "The final answer is …", "Answer: …", `**Answer:** …` — the last such statement.
5. With a multiple-choice gold, a choice letter in prose ("I think it's B", "(C)", "option D").
6. A bare answer (one short line, no marker) is taken whole.

Intermediate results ("… = 12") are never taken: a long response without a stated answer has none.
Every step is linear in the length of the response.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"(?<!\\)[{}]")
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_ANSWER_MARKER = re.compile(
    r"(?:\bfinal\s+answer|\banswer)(?:\s*\*\*)?\s*(?:\bis\b\s*:?|[:：])\s*(?:\*\*(?=\s)\s*)?(?P<answer>[^\n]*)",
    re.IGNORECASE,
)
# Where a stated answer ends: a sentence end (not a decimal point), or a clause that explains it.
_SENTENCE_END = re.compile(
    r"(?<!\d)\.(?:\s|$)|\.\s+(?=[A-Z])|[;!?](?:\s|$)|,?\s+(?:because|since|as|which|so that)\b"
)
_INLINE_MATH = re.compile(r"\$\$?(.+?)\$\$?|\\\((.+?)\\\)")
_CHOICE = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is\s*)?[:：]?\s*(?:\*\*)?\s*\(?(?P<keyword>[A-J])\)?(?![A-Za-z0-9])"
    r"|\b(?:it's|it\s+is)\s+\(?(?P<spoken>[A-J])\)?(?![A-Za-z0-9])"
    r"|\((?P<parenthesised>[A-J])\)"
    r"|^\s*(?P<alone>[A-J])\s*[.):]?\s*$",
    re.MULTILINE,
)
# A bare answer is one line of at most this many characters.
MAX_BARE_CHARS = 200


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` or `\\fbox{...}` whose braces balance.

    A box whose braces never close (a truncated response) is skipped, so an earlier complete box wins.
    `\\boxed 5` without braces yields the next token.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} is it")
    '\\\\frac{1}{2}'
    """
    boxes = _boxes(text)
    return boxes[-1][2] if boxes else None


def boxed_answer(text: str) -> str | None:
    """The last complete box, joined with the other boxes on its line; None without a box."""
    boxes = _boxes(text)
    if not boxes:
        return None
    line_start = text.rfind("\n", 0, boxes[-1][0]) + 1
    contents: list[str] = []
    for start, _, content in boxes:
        while _BOX_COMMAND.match(content):  # \boxed{\boxed{5}}
            content = last_boxed(content) or ""
        if start >= line_start and content and content not in contents:
            contents.append(content)
    return ", ".join(contents)


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every complete box that is not inside another, in order."""
    commands = list(_BOX_COMMAND.finditer(text))
    if not commands:
        return []
    closing: dict[int, int] = {}
    stack: list[int] = []
    for brace in _BRACE.finditer(text):
        if brace.group() == "{":
            stack.append(brace.start())
        elif stack:
            closing[stack.pop()] = brace.start()
    boxes: list[tuple[int, int, str]] = []
    for command in commands:
        if boxes and command.start() < boxes[-1][1]:
            continue  # nested in the previous box
        rest_start = command.end()
        while rest_start < len(text) and text[rest_start] in " \t":
            rest_start += 1
        if rest_start == len(text):
            continue
        if text[rest_start] == "{":
            end = closing.get(rest_start)
            if end is not None:
                boxes.append((command.start(), end + 1, text[rest_start + 1 : end].strip()))
        elif rest_start > command.end():  # `\boxed 5`: the argument is the next token
            token = re.match(r"[^\s$]+", text[rest_start:])
            if token and token.group().rstrip("."):
                boxes.append((command.start(), rest_start + token.end(), token.group().rstrip(".")))
    return boxes


def extract_answer(text: str, patterns: Sequence[str] = (), *, choices: bool = False) -> str | None:
    """The final answer stated in `text`, or None when there is none.

    `patterns` are the data set's regexes; `choices=True` (the gold is a choice letter) also reads choice
    letters in prose. See the module docstring for the order.

    >>> extract_answer("Adding them gives 12.\\nThe final answer is $\\\\frac{3}{4}$.")
    '\\\\frac{3}{4}'
    """
    if _THINK_CLOSE.search(text):
        text = _THINK_CLOSE.split(text)[-1]
    elif _THINK_OPEN.search(text):
        return None  # still thinking: cut off before any final answer
    tags = list(_ANSWER_TAG.finditer(text))
    if tags:
        return _answer_in(tags[-1].group(1), patterns, choices, whole=True)
    stripped = text.strip()
    bare = "\n" not in stripped and len(stripped) <= MAX_BARE_CHARS
    return _answer_in(text, patterns, choices, whole=bare)


def _answer_in(text: str, patterns: Sequence[str], choices: bool, whole: bool) -> str | None:
    answer = boxed_answer(text)
    if answer is None:
        answer = _pattern_answer(text, patterns)
    if answer is None:
        answer = _marker_answer(text)
    if answer is None and choices:
        letters = list(_CHOICE.finditer(text))
        if letters:
            answer = next(letter for letter in letters[-1].groups() if letter)
    if answer is None and whole:
        answer = text.strip()
    return answer or None


def _pattern_answer(text: str, patterns: Sequence[str]) -> str | None:
    for pattern in patterns:
        matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
        if matches:
            last = matches[-1]
            answer = (last.group(1) if last.re.groups else last.group(0)).strip()
            if answer:
                return answer
    return None


def _marker_answer(text: str) -> str | None:
    """The answer a closing statement gives: the rest of its sentence, or its first inline formula."""
    for marker in reversed(list(_ANSWER_MARKER.finditer(text))):
        stated = marker.group("answer").strip()
        if not stated:  # `Final answer:` with the answer on the next line
            following = text[marker.end() :].lstrip().partition("\n")[0]
            stated = following.strip()
        if not stated:
            continue
        formula = _INLINE_MATH.search(stated)
        if formula:
            return (formula.group(1) or formula.group(2)).strip()
        end = _SENTENCE_END.search(stated)
        stated = stated[: end.start()] if end else stated
        return stated.strip().rstrip(".").strip() or None
    return None
