"""Find the final answer in a teacher's response, and say how it was found.

Two modes. `strict` takes only stated answers; `lenient` also takes the final stated value when nothing is
stated. Where the answer is looked for, strongest first (the first that yields an answer wins):

0. Chat-template debris is cut off first (`<|im_end|>`, `<|endoftext|>`, a hallucinated `<|im_start|>user`
   turn and everything after it). Only the text after the last `</think>` counts; a response that opened
   `<think>` and never closed it has no final answer. Inside the last `<answer>…</answer>` the same rules
   apply, and its whole content is the answer when it has no marker (`answer_tag`).
1. `boxed`: `\\boxed{}` / `\\fbox{}` with balanced braces. Several boxes: the last complete box, joined with
   the other boxes on its line (`\\boxed{2}, \\boxed{3}` → `2, 3`); a box on an earlier line was superseded.
   Two different boxes on one line (a hedge: `\\boxed{2} or \\boxed{3}`) therefore never match one gold.
2. `pattern`: the data set's own regexes (the first group, or the whole match, is the answer).
3. `marker`: the last closing statement — "The final answer is …", "Answer: …", `**Answer:** …`, "Answer $42$",
   a `### Final Answer` heading, GSM8K's `#### 72` and a closing `A: 72` line, and the same statements in
   other languages (答案是 …, 答え：…, Réponse : …, La respuesta es …, Antwort: …, Ответ: …, الإجابة: …,
   उत्तर: …). The statement's value is its first formula, or what follows its copula
   ("the smallest $k$ is 12" → 12).
4. `choice`: with a multiple-choice gold, the last choice letter in prose ("I think it's B", "(C)", "option
   D"); a letter rejected ("(B) is wrong", "not (B)") or hedged ("it's A or C") is no choice.
5. `bare`: a response of one short line is the answer as a whole (in lenient mode, unless it is a sentence
   stating a value: "So she pays $12." is read as step 6 reads a closing line).
6. Lenient only: the final stated value, after sign-offs ("I hope it is correct.") are trimmed: in the last
   sentence that states a value, its last formula (`last_math`: `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`, formulas
   joined by "and"/"or"/commas together), the right side of its last equation (`last_equation`; the whole
   equation when it does not start with a name: `2x + 3y = 12` states no 12), or its last number
   (`last_number`); an explaining clause after the value ("…, which is 3 more than 15") is not read.

Strict never takes an intermediate result ("… = 12"); lenient takes a value only from the closing sentence.
Every step is linear in the length of the response: hostile 64 KB responses (a word of 64 K letters, a run
of spaces, nested boxes, a chain of sign-offs) are read in about 0.1 s each (tests/test_bounds_verify.py;
quadratic patterns took minutes, one exponential). `filters.verify` reads longer ones under its deadline.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from filters.normalize import MATH_WORDS, is_name

EXTRACTION_MODES = ("strict", "lenient")

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"(?<!\\)[{}]")
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<(/?)answer>", re.IGNORECASE)
# Chat-template tokens: a model that runs past its turn writes them, then often a new question of its own.
_TURN_TOKEN = re.compile(
    r"<\|(?:im_start|im_end|endoftext|end_of_text|eot_id|start_header_id|end_header_id|end|user|assistant"
    r"|system|EOT)\|>|<｜(?:end▁of▁sentence|User|Assistant)｜>|</s>|<(?:start|end)_of_turn>"
    r"|\n[ \t]*(?:#{2,3}[ \t]*)?(?:Human|User|USER|Instruction|Question)[ \t]*:"
)
_ROLE_LINE = re.compile(r"^\s*(?:assistant|model)\s*\n")
# Sign-offs after the answer: they state nothing, and a closing-sentence reader must look past them. Each
# quantifier is possessive and a match starts only where a run of spaces starts: with backtracking, 22
# "Good luck"s before a last word took 8 s (each split of the spaces between them was tried).
_SIGN_OFF = re.compile(
    r"(?<!\s)(?:\s*+(?:I\s+hope\s+(?:it|this|that)\s+(?:is|was)\s+(?:correct|right|helpful)"
    r"|I\s+hope\s+(?:this|that|it)\s+helps|Hope\s+(?:this|that|it)\s+helps|Let\s+me\s+know\s+if\b[^\n]*"
    r"|Feel\s+free\s+to\b[^\n]*|Good\s+luck|Happy\s+(?:studying|learning)|Is\s+there\s+anything\s+else\b[^\n]*"
    r"|Would\s+you\s+like\b[^\n]*|Do\s+you\s+(?:want|need)\b[^\n]*|If\s+you\s+have\s+any\b[^\n]*)"
    r"[.!?]*+\s*+(?:[😊🙂]\s*+)?)++$",
    re.IGNORECASE,
)
# Sign-offs are looked for in this many closing characters: a match that fails at the end is tried again
# from every sign-off before it, so a text of nothing but sign-offs costs the square of its length.
_SIGN_OFF_REACH = 2000

# "answer is", "answer:", and "Answer" right before a formula (`Answer $42$`, `Answer\n\[x+1\]`).
_ENGLISH_MARKER = (
    r"(?:\bfinal\s+answer|\banswer)(?:[ \t]*\*\*)?"
    r"(?:[ \t]*(?:\b(?:is|must\s+be|should\s+be|would\s+be|will\s+be)\b[ \t]*:?|[:：=])[ \t]*(?:\*\*(?=\s)[ \t]*)?"
    r"|(?=\s*(?:\$|\\\[|\\\()))"
)
# The same statement in other languages, as models write it (verb or colon after the word for "answer").
# Spaces around an optional word are taken possessively: otherwise each split of a long run between the two
# `\s*` is tried (quadratic in the run), here and in the patterns below.
_OTHER_MARKERS = (
    r"(?:最终答案|最后答案|答案|正确答案|答)\s*+(?:应该|应|就)?\s*+(?:是|为|為|：|:)\s*(?:[:：]\s*)?",
    r"(?:答え|解答|正解)\s*(?:は|：|:)\s*",
    r"(?:정답|답)\s*(?:은|는|:|：)\s*",
    r"\b(?:la\s+)?r[ée]ponse(?:\s+finale)?\s*(?:est|:|：)\s*",
    r"\b(?:la\s+)?respuesta(?:\s+final)?\s*(?:es|:)\s*",
    r"\b(?:a\s+)?resposta(?:\s+final)?\s*(?:é|e|:)\s*",
    r"\b(?:la\s+)?risposta(?:\s+finale)?\s*(?:è|e|:)\s*",
    r"\b(?:die\s+)?(?:antwort|lösung|endergebnis)\s*(?:ist|lautet|:)\s*",
    r"\b(?:het\s+)?antwoord\s*(?:is|:)\s*",
    r"(?<![А-Яа-яЁё])(?:окончательный\s+)?ответ\s*(?::|—|–|-|равен|будет|это)\s*",
    r"(?:الإجابة|الاجابة|الجواب)(?:\s+النهائية)?\s*(?:هي|هو|:|：)\s*",
    r"(?:अंतिम\s+)?उत्तर\s*(?:है|:|：|=)\s*",
    r"\b(?:cevap|yanıt)\s*:\s*",
    r"\bđáp\s+án\s*(?:là|:)\s*",
    r"\bjawaban(?:nya)?\s*(?:adalah|:)\s*",
    r"\bodpowied[źz]\s*(?::|to)\s*",
    r"(?:উত্তর|জবাব)\s*(?:হলো|হল|:|：)\s*",  # Bengali
    r"คำตอบ\s*(?:คือ|:|：)\s*",  # Thai
    r"\bjibu\s*(?:ni|:)\s*",  # Swahili
    r"సమాధానం\s*(?::|：)\s*",  # Telugu
)
_ANSWER_MARKER = re.compile(
    rf"(?:{_ENGLISH_MARKER}|{'|'.join(_OTHER_MARKERS)})(?P<answer>[^\n]*)",
    re.IGNORECASE,
)
_WRAPPED_MARKER = re.compile(r"\\text(?:bf|it|rm)?\s*\{\s*+((?:final\s+)?answer\s*+:?)\s*+\}", re.IGNORECASE)
_GSM8K_MARKER = re.compile(r"^[ \t]*####[ \t]*(?P<answer>[^\n]+)", re.MULTILINE)
# Tried on the last line that is not blank only: on any other line it fails at `$` after trying each split
# of the line between `[ \t]*` and the answer.
_A_LINE = re.compile(r"[ \t]*A:[ \t]*(?P<answer>[^\n]+)\s*$")
_ANSWER_HEADING = re.compile(
    r"^[ \t]*(?:#+[ \t]*|\*\*)(?:final[ \t]+answer|answer)[ \t]*+:?(?:\*\*)?[ \t]*+:?[ \t]*+$",
    re.IGNORECASE | re.MULTILINE,
)
# Where a stated answer ends: a sentence end (not a decimal point), or a clause that explains it. A clause
# that opens with spaces is not looked for from the third space of a run on: it would match from the run's
# start too, and trying it from every space of a long run is quadratic. (Callers start a search at a line's
# start, after a number, or one space after a sentence's end, never further into a run.)
_SENTENCE_END = re.compile(
    r"(?<!\d)\.(?:\s|$)|\.\s+(?=[A-Z])|[;!?](?:\s|$)|[。！？；]"
    r"|(?:,|(?<![^\S\n]{2}))\s+(?:because|since|as|which|where|so\s+that|given\s+that)\b"
    r"|[,，]\s*(?:因为|由于|比|即)"
    r"|(?<![^\S\n]{2})\s*\("
    r"(?:since|because|as|which|from|by|about|approximately|approx\.?|around|roughly|or|i\.e\.|e\.g\.)[\s,]"
    r"|,\s*(?:not|rather\s+than|instead\s+of)\b|,\s+(?=[^\s,]+\s+(?:more|less|fewer)\s+than\b)"
)
# What a statement says after naming the thing: "the smallest $k$ is 12", "the total is 12".
_COPULA = re.compile(
    r"^\s*(?:is|are|was|equals|will\s+be|would\s+be|=|est|es|ist|是|为|は)\s*+:?\s*+(?=\S)", re.IGNORECASE
)
_FILLER = re.compile(
    r"^\s*(?:indeed|therefore|thus|then|clearly|simply|just|actually|exactly|now|so)\b[\s,]*", re.IGNORECASE
)
_NEGATION = re.compile(
    r"^\s*not\s++[^;,.\n]*+[;,.]\s*(?:but\s+)?(?:it\s+is|it's|rather|instead)\b\s*+:?\s*+(?=\S)",
    re.IGNORECASE,
)
_LAST_COPULA = re.compile(
    r".*\b(?:is|are|was|equals|will\s+be|would\s+be)\b\s*+:?\s*+(?=\S)", re.IGNORECASE | re.DOTALL
)
_CONNECTIVE = re.compile(r"^\s*(?:,|;|and|or|,\s*(?:and|or)|\\quad|\\qquad|&|\\text\{\s*(?:and|or)\s*\})\s*$")
_MATH_DELIMITER = re.compile(r"(?<!\\)\$\$|(?<!\\)\$|\\\[|\\\]|\\\(|\\\)")
_CLOSER = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
# A number grouped by spaces has a dozen groups at most: each group of a longer run (`1 000 000 …`, no
# decimal comma at its end) would read the rest of the run again.
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.^])(?:[-−]\s?)?(?:[$€£¥₹]\s?)?"
    r"(?:\d+(?::\d+)+|\d{1,3}(?:[ .\u202f\u00a0]\d{3}){1,12},\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?"
    r"|\d+(?:\.\d+)?(?:\s?/\s?\d+(?!\d|\.\d))?|\.\d+)"
    r"(?:\s?%)?(?!\d)"
)
_WORD = re.compile(r"(?<![\\A-Za-z0-9])[A-Za-z]{3,}(?![A-Za-z0-9])")  # `5cm`, `1e5` are not prose
# Letters of other scripts; Greek letters, superscripts and vulgar fractions are maths.
_OTHER_SCRIPT_LETTER = re.compile(r"[^\W\d_A-Za-z\u0370-\u03ff²³¹\u2070-\u209f\u00bc-\u00be\u2150-\u215f]")
_TRAILING_UNIT = re.compile(r"(?<=\d)\s*[^\W\d_]+(?:\s+[^\W\d_]+)?[²³]?[。.]?\s*$")
_TEXT_COMMAND = re.compile(r"\\(?:text|mbox|mathrm|textrm)\s*\{[^{}]*\}")
# A letter alone on its line is looked for from that line's start, not from each blank line before it.
_CHOICE = re.compile(
    r"\b(?i:answer|option|choice)\s*+(?i:is\s*+)?[:：]?\s*+(?:\*\*)?\s*+\(?(?P<keyword>[A-J])\)?(?![A-Za-z0-9])"
    r"|\b(?i:it's|it\s+is|go\s+with|pick|choose|select)\s+(?i:option\s+)?\(?(?P<spoken>[A-J])\)?(?![A-Za-z0-9'])"
    r"|\((?P<parenthesised>[A-J])\)"
    r"|(?<![\w\\])(?P<affirmed>[A-J])\)?[^\S\n]++(?i:is|must[^\S\n]++be)[^\S\n]++(?i:the[^\S\n]++)?"
    r"(?i:correct|right|best|answer|option|choice)\b"
    r"|^[^\S\n]*+(?P<alone>[A-J])[^\S\n]*+[.):]?[^\S\n]*+$",
    re.MULTILINE,
)
# Words around a letter that reject it: it is named, not chosen.
_REJECTED_AFTER = re.compile(
    r"\s*+(?:(?:is|was|seems|looks|would\s+be)\s+(?:not\b|wrong|incorrect|false|invalid|impossible"
    r"|eliminated|excluded|ruled\s+out|out\b)|isn't|can't|cannot|can\s+not|doesn't|does\s+not|fails\b)",
    re.IGNORECASE,
)
_REJECTED_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bcannot|\brule\s+out|\bruled\s+out|\beliminated?|\bexclude[sd]?|\breject(?:s|ed)?"
    r"|\brather\s+than|\binstead\s+of)(?:[^\S\n]++(?:be|is))?[^\S\n]*+(?:(?:option|choice)[^\S\n]+)?$",
    re.IGNORECASE,
)
# "(D), not (B)", "(D) rather than (B)": the letter before the rejected one is the one chosen.
_CONTRASTED = re.compile(
    r"(?<![\w\\])\(?(?P<letter>[A-J])\)?[^\S\n]*+,?[^\S\n]*+(?i:(?:but[^\S\n]+)?not|rather[^\S\n]+than"
    r"|instead[^\S\n]+of)[^\S\n]*+(?:(?i:option)[^\S\n]+)?$"
)
# A letter joined to another: a hedge between them.
_HEDGED_AFTER = re.compile(
    r"[^\S\n]*+(?:,|/|&|(?i:or|and)\b)[^\S\n]*+(?:(?i:option)[^\S\n]+)?\(?[A-J]\)?(?![\w'])"
)
_HEDGED_BEFORE = re.compile(
    r"(?<![\w\\])\(?[A-J]\)?[^\S\n]*+(?:,|/|&|\b(?i:or|and)\b)[^\S\n]*+(?:(?i:option)[^\S\n]+)?$"
)
_NEIGHBOUR_REACH = 40  # characters before a letter where a rejection or a hedge is looked for
# A bare answer is one line of at most this many characters.
MAX_BARE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Found:
    """An answer and how it was found: boxed, pattern, marker, choice, answer_tag, bare, last_math,
    last_equation or last_number."""

    answer: str
    how: str


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` or `\\fbox{...}` whose braces balance.

    A box whose braces never close (a truncated response) is skipped, so an earlier complete box wins.
    `\\boxed 5` without braces yields the next token.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} is it")
    '\\\\frac{1}{2}'
    """
    boxes = all_boxes(text)
    return boxes[-1][2] if boxes else None


def boxed_answer(text: str) -> str | None:
    """The last complete box, joined with the other boxes on its line; None without a box."""
    index = _Boxes(text)
    boxes = index.within(0, len(text))
    if not boxes:
        return None
    line_start = text.rfind("\n", 0, boxes[-1].start) + 1
    contents: dict[str, None] = {}  # in order, each once
    for box in boxes:
        content = index.innermost(box)  # \boxed{\boxed{5}}
        if box.start >= line_start and content:
            contents[content] = None
    return ", ".join(contents)


def all_boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every complete box that is not inside another, in order."""
    boxes = _Boxes(text).within(0, len(text))
    return [(box.start, box.end, text[box.content_start : box.content_end]) for box in boxes]


@dataclass(frozen=True, slots=True)
class _Box:
    start: int
    end: int
    content_start: int  # the content, stripped, is text[content_start:content_end]
    content_end: int


_BOX_TOKEN = re.compile(r"[^\s$]+")


class _Boxes:
    """The box commands and braces of a text, found in one pass, so that the boxes inside a box are read
    without scanning its content again (reading a box nested k deep from its content cost k scans)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.commands = [(command.start(), command.end()) for command in _BOX_COMMAND.finditer(text)]
        self.starts = [start for start, _ in self.commands]
        self.closing: dict[int, int] = {}
        if self.commands:
            stack: list[int] = []
            for brace in _BRACE.finditer(text):
                if brace.group() == "{":
                    stack.append(brace.start())
                elif stack:
                    self.closing[stack.pop()] = brace.start()

    def within(self, low: int, high: int) -> list[_Box]:
        """The complete boxes of `text[low:high]` that are not inside another, in order: those of the
        slice alone, as a brace opened in the slice pairs with the same brace in the slice as in the text."""
        text, boxes = self.text, list[_Box]()
        at = bisect.bisect_left(self.starts, low)
        while at < len(self.commands) and self.starts[at] < high:
            start, rest = self.commands[at]
            at += 1
            while rest < high and text[rest] in " \t":
                rest += 1
            if rest == high:
                continue
            box = None
            if text[rest] == "{":
                end = self.closing.get(rest, high)
                if end < high:
                    box = self._stripped(start, end + 1, rest + 1, end)
            elif rest > self.commands[at - 1][1]:  # `\boxed 5`: the argument is the next token
                token = _BOX_TOKEN.match(text, rest, high)
                if token and token.group().rstrip("."):
                    box = _Box(start, token.end(), rest, rest + len(token.group().rstrip(".")))
            if box is not None:
                boxes.append(box)
                at = bisect.bisect_left(self.starts, box.end, at)  # past the boxes nested in this one
        return boxes

    def innermost(self, box: _Box) -> str:
        """The content of a box whose content is a box is that box's content (the last one's, if several)."""
        low, high = box.content_start, box.content_end
        while _BOX_COMMAND.match(self.text, low, high):
            inner = self.within(low, high)
            if not inner:
                return ""
            low, high = inner[-1].content_start, inner[-1].content_end
        return self.text[low:high]

    def _stripped(self, start: int, end: int, low: int, high: int) -> _Box:
        text = self.text
        while low < high and text[low].isspace():
            low += 1
        while high > low and text[high - 1].isspace():
            high -= 1
        return _Box(start, end, low, high)


def extract_answer(
    text: str,
    patterns: Sequence[str] = (),
    *,
    choices: bool = False,
    words: bool = False,
    mode: str = "lenient",
) -> str | None:
    """The final answer in `text`, or None when there is none. See `find_answer`.

    >>> extract_answer("Adding them gives 12.\\nThe final answer is $\\\\frac{3}{4}$.")
    '\\\\frac{3}{4}'
    """
    found = find_answer(text, patterns, choices=choices, words=words, mode=mode)
    return found.answer if found else None


def find_answer(
    text: str,
    patterns: Sequence[str] = (),
    *,
    choices: bool = False,
    words: bool = False,
    mode: str = "lenient",
) -> Found | None:
    """The final answer in `text` and how it was found, or None when there is none.

    `patterns` are the data set's regexes; `choices=True` (the gold is a choice letter) also reads choice
    letters in prose; `words=True` (the gold is words, `Monday`) lets lenient read the words a closing
    sentence ends on ("…it will be Monday."); `mode` is `strict` (stated answers only) or `lenient`. See
    the module docstring.

    >>> find_answer("So she pays 3 * 4 = $12 in all.")
    Found(answer='$12', how='last_number')
    """
    if mode not in EXTRACTION_MODES:
        raise ValueError(f"extraction mode must be one of {', '.join(EXTRACTION_MODES)}; got {mode!r}")
    text = _without_debris(text)
    if _THINK_CLOSE.search(text):
        text = _THINK_CLOSE.split(text)[-1]
    elif _THINK_OPEN.search(text):
        return None  # still thinking: cut off before any final answer
    lenient = mode == "lenient"
    tagged = _last_answer_tag(text)
    if tagged is not None:
        text = tagged
    found = _stated(text, patterns, choices, lenient)
    if found is not None:
        return found if found.answer else None  # an empty box states nothing
    stripped = text.strip()
    if tagged is not None:
        return Found(stripped, "answer_tag") if stripped else None
    if stripped and "\n" not in stripped and len(stripped) <= MAX_BARE_CHARS:
        if lenient and _is_words(stripped):  # a sentence: lenient reads the value it states
            if _NUMBER.search(stripped) or _math_spans(stripped):
                return _final_value(text, choices, words)
            found = _closing_words(stripped, choices, words) if choices or words else None
            if found:
                return found
        return Found(stripped, "bare")
    return _final_value(text, choices, words) if lenient else None


def _without_debris(text: str) -> str:
    """The response up to the first chat-template token that follows some content."""
    for part in _TURN_TOKEN.split(text):
        part = _ROLE_LINE.sub("", part)
        if part.strip():
            return part
    return ""


def _last_answer_tag(text: str) -> str | None:
    """The content of the last `<answer>…</answer>`, an opening tag closed by the next closing one; None
    without one. Tags are paired in one pass: a regex for the pair read on to the end from every
    `<answer>` left open."""
    opened: int | None = None
    content: tuple[int, int] | None = None
    for tag in _ANSWER_TAG.finditer(text):
        if not tag.group(1):
            if opened is None:
                opened = tag.end()
        elif opened is not None:
            content, opened = (opened, tag.start()), None
    return text[content[0] : content[1]] if content else None


def _stated(text: str, patterns: Sequence[str], choices: bool, lenient: bool) -> Found | None:
    answer = boxed_answer(text)
    if answer is not None:
        return Found(answer, "boxed")
    answer = _pattern_answer(text, patterns)
    if answer:
        return Found(answer, "pattern")
    answer = _marker_answer(text, choices, lenient)
    if answer:
        return Found(answer, "marker")
    return _choice_in_prose(text) if choices else None


def _choice_in_prose(text: str) -> Found | None:
    """The last choice letter named in prose. A letter rejected ("(B) is wrong", "not (B)") or hedged with
    another ("(A) or (C)", "it's A or C") is not chosen, and the letters named before it are no surer a
    choice (unless set against it: "(D), not (B)"): the answer is then the rejection or the hedge, which is
    no choice of any letter."""
    letters = list(_CHOICE.finditer(text))
    if not letters:
        return None
    last = letters[-1]
    letter = next(letter for letter in last.groups() if letter)
    reach = max(0, last.start() - _NEIGHBOUR_REACH)
    if _REJECTED_AFTER.match(text, last.end()) or _REJECTED_BEFORE.search(text, reach, last.start()):
        contrast = _CONTRASTED.search(text, reach, last.start())
        return Found(contrast.group("letter") if contrast else f"not {letter}", "choice")
    hedge_after = _HEDGED_AFTER.match(text, last.end())
    hedge_before = _HEDGED_BEFORE.search(text, reach, last.start())
    if hedge_after or hedge_before:
        start = hedge_before.start() if hedge_before else last.start(last.lastgroup or 0)
        return Found(text[start : hedge_after.end() if hedge_after else last.end()].strip(), "choice")
    return Found(letter, "choice")


def _pattern_answer(text: str, patterns: Sequence[str]) -> str | None:
    for pattern in patterns:
        matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
        if matches:
            last = matches[-1]
            answer = (last.group(1) if last.re.groups else last.group(0)).strip()
            if answer:
                return answer
    return None


def _marker_answer(text: str, choices: bool, lenient: bool) -> str | None:
    """The value the last closing statement gives. In lenient mode, a statement in words with no value
    ("Answer: she has twelve") is left to the closing-sentence reader."""
    text = _WRAPPED_MARKER.sub(r"\1", text)  # `\textbf{Answer:} 7`
    candidates: list[tuple[int, str]] = []
    gsm8k = list(_GSM8K_MARKER.finditer(text))
    if gsm8k:
        candidates.append((gsm8k[-1].start(), gsm8k[-1].group("answer")))
    # With choices, `A: 5` is an option, not a marker.
    a_line = None if choices else _A_LINE.match(text, text.rstrip().rfind("\n") + 1)
    if a_line:
        candidates.append((a_line.start("answer"), a_line.group("answer")))
    for heading in reversed(list(_ANSWER_HEADING.finditer(text))):
        following = text[heading.end() :].strip()
        if following:
            candidates.append((heading.start(), following))
            break
    for marker in reversed(list(_ANSWER_MARKER.finditer(text))):
        stated = marker.group("answer").strip()
        if not stated:  # `Final answer:` with the answer on the next line
            stated = text[marker.end() :].lstrip()
        if stated:
            candidates.append((marker.start(), stated))
            break
    if not candidates:
        return None
    _, stated = max(candidates)
    value = statement_value(stated)
    if value is None or (lenient and _is_words(value)):
        return None
    return value


# A negation ("not 12; it is 14") or a copula after a variable ("the smallest $k$ is 12") sends the reading
# on to what follows, each time at the cost of the statement's length; a real statement needs two or three.
_MAX_READINGS = 8


def statement_value(stated: str) -> str | None:
    """The value a statement gives: its first formula (with the formulas joined to it by "and", "or",
    commas), what follows its copula, or the statement up to its end.

    >>> statement_value("the smallest $k$ is 12. I hope it is correct.")
    '12'
    """
    for _ in range(_MAX_READINGS):
        stated = _FILLER.sub("", stated)
        negated = _NEGATION.match(stated)
        if negated:  # "The answer is not 12; it is 14."
            stated = stated[negated.end() :]
            continue
        line_end = stated.find("\n") if "\n" in stated else len(stated)
        # Formulas are found only as far as the value reaches: each reading would find all of them again.
        spans = _each_math_span(stated)
        first = next(spans, None)
        end = _SENTENCE_END.search(stated, 0, line_end)
        if first is not None and first[0] < line_end and (end is None or end.start() > first[0]):
            joined, formula_end = _joined_from(stated, first, spans)
            copula = _COPULA.match(stated[formula_end:])
            if copula and _is_variable(joined):  # "the smallest $k$ is 12"
                stated = stated[formula_end + copula.end() :]
                continue
            return joined
        sentence = stated[: end.start() if end else line_end].strip().rstrip(".").strip()
        if sentence.count("**") == 1:  # `**Answer: B**`: the emphasis closes after the answer
            sentence = sentence.replace("**", "").strip()
        if _is_words(sentence):
            copula = _LAST_COPULA.match(sentence)
            if copula and not _is_words(sentence[copula.end() :]):
                return sentence[copula.end() :].strip(" *")
        return sentence or None
    return None


def _is_variable(formula: str) -> bool:
    return bool(re.fullmatch(r"\s*\\?[A-Za-z]+(?:_\{?\w+\}?)?\s*", formula))


def _is_words(text: str) -> bool:
    """Prose rather than a value: a word of three letters or more that is not maths, or any letter of a
    script without spaces (CJK), once a unit after the number (`12 apples`, `7页`) is set aside."""
    stripped = _TEXT_COMMAND.sub(" ", text)
    stripped = re.sub(r"\\(?:begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+", " ", stripped).strip()
    stripped = _TRAILING_UNIT.sub("", stripped)
    if _OTHER_SCRIPT_LETTER.search(stripped):
        return True
    if not re.search(r"\s", text):  # one token (`1-xcm`, `2ab+c`): a sentence in spaced scripts has two words
        return False
    if any(word.lower() in _SHORT_WORDS for word in re.findall(r"\b[A-Za-z]{2}\b", stripped)):
        return True
    return any(word.lower() not in _VALUE_WORDS for word in _WORD.findall(stripped))


_VALUE_WORDS = MATH_WORDS | {"and"}  # `3 and 4` is two values, not a sentence
# Two-letter words that are English, not a product of two symbols (`ab`, `xy`).
_SHORT_WORDS = frozenset("so is it at by of to in on we he as be if an my us do go no".split())


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    return list(_each_math_span(text))


def _each_math_span(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, content) of each delimited formula, in one pass over the delimiters. Dollar signs are
    also currency: a `$…$` pair around prose ("$18 every day. She spent $") is no formula, and its
    second sign may open the next one."""
    opener: re.Match[str] | None = None
    for delimiter in _MATH_DELIMITER.finditer(text):
        token = delimiter.group()
        if opener is not None and token == _CLOSER[opener.group()]:
            content = text[opener.end() : delimiter.start()].strip()
            if not (token == "$" and (_is_words(content) or "\n\n" in content)):
                if content:
                    yield opener.start(), delimiter.end(), content
                opener = None
                continue
            opener = None
        if opener is None and token in _CLOSER:
            opener = delimiter


def _joined_from(
    text: str, first: tuple[int, int, str], following: Iterator[tuple[int, int, str]]
) -> tuple[str, int]:
    """The formula `first` and those `following` it joined by connectives; and where the last one ends."""
    parts, end = [first[2]], first[1]
    for start, span_end, content in following:
        if not _CONNECTIVE.match(text[end:start]):
            break
        parts.append(content)
        end = span_end
    return ", ".join(parts), end


def _joined_to(text: str, spans: list[tuple[int, int, str]], last: int) -> str:
    """The formula `spans[last]` and those before it joined by connectives."""
    first = last
    while first > 0 and _CONNECTIVE.match(text[spans[first - 1][1] : spans[first][0]]):
        first -= 1
    return ", ".join(content for _, _, content in spans[first : last + 1])


def _final_value(text: str, choices: bool, words: bool) -> Found | None:
    """Lenient: the value of the last sentence that states one."""
    text = text.rstrip()
    sign_off = _SIGN_OFF.search(text, max(0, len(text) - _SIGN_OFF_REACH))
    if sign_off:
        text = text[: sign_off.start()]
    spans = _math_spans(text)
    masked = _masked(text, spans)
    numbers = list(_NUMBER.finditer(masked))
    anchor = max(spans[-1][1] if spans else -1, numbers[-1].end() if numbers else -1)
    closing_line = masked.rstrip().rfind("\n")
    if _CODE.search(masked, closing_line + 1):
        return None  # code states nothing
    if choices or words or anchor <= closing_line:
        return _closing_words(masked[closing_line + 1 :], choices, words)
    start = _sentence_start(masked, anchor)
    explained = _SENTENCE_END.search(masked, start, anchor)
    if explained:  # "…is 18, which is 3 more than 15": the value comes before the explanation
        before_spans = [span for span in spans if start <= span[0] and span[1] <= explained.start()]
        before_numbers = [n for n in numbers if start <= n.start() and n.end() <= explained.start()]
        if before_spans or before_numbers:
            spans, numbers = before_spans, before_numbers
    span_end = spans[-1][1] if spans else -1
    number_end = numbers[-1].end() if numbers else -1
    if span_end >= number_end:
        return Found(_joined_to(text, spans, len(spans) - 1), "last_math")
    stop = _SENTENCE_END.search(masked, number_end)
    stop_at = stop.start() if stop else len(masked)
    stop_at = min(stop_at, masked.find("\n", number_end) % (len(masked) + 1))
    equation = _last_equation(masked[start:stop_at], text[start:stop_at])
    if equation:
        return Found(equation, "last_equation")
    return Found(numbers[-1].group().strip(), "last_number")


_EITHER = re.compile(r"\beither\s+\(?([A-J])\)?\s+or\s+\(?([A-J])\)?(?![A-Za-z])")
_ENDS_ON = re.compile(
    r".*\b(?:is|are|was|be|on|equals)\s++(?P<value>[A-Za-z][A-Za-z '\-]{0,40}?)\s*+[.!]?\s*+$", re.DOTALL
)
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
    if value > 1  # "one" and "zero" are words more often than values ("no one", "one of them")
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)


def _closing_words(line: str, choices: bool, words: bool) -> Found | None:
    """A closing line with no figure in it: a hedge between two choices, the words a words-answer ends on,
    or a number written as a word ("She needs twelve more cups.")."""
    line = line.strip()
    hedge = _EITHER.search(line) if choices else None
    if hedge:
        return Found(f"{hedge.group(1)}, {hedge.group(2)}", "choice")
    ends_on = _ENDS_ON.match(line) if words else None
    if ends_on:
        return Found(ends_on.group("value").strip(), "last_words")
    if _NUMBER.search(line) or _math_spans(line):
        return None
    numbers = _NUMBER_WORD.findall(line)
    return Found(str(_NUMBER_WORDS[numbers[-1].lower()]), "last_number") if len(numbers) == 1 else None


def _masked(text: str, spans: list[tuple[int, int, str]]) -> str:
    """`text` with every formula blanked out (same length), so prose rules never look inside maths."""
    if not spans:
        return text
    pieces, position = [], 0
    for start, end, _ in spans:
        pieces.append(text[position:start])
        pieces.append(" " * (end - start))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _sentence_start(masked: str, anchor: int) -> int:
    line_start = masked.rfind("\n", 0, anchor) + 1
    start = line_start
    for end in re.finditer(r"(?<!\d)\.\s|[!?]\s|[。！？]", masked[line_start:anchor]):
        start = line_start + end.end()
    return start


# A call is looked for from the start of a word only: from every letter of a long word it was quadratic.
_CODE = re.compile(r"(?<!\w)[^\WA-Za-z_]*+[A-Za-z_]\w*+\(\s*['\"]|__\w+__|\blambda\b|\bimport\b")
_EQUATION_TAIL = re.compile(r"=\s*+([^=]+)$")
# Where the formula before an `=` starts: after the last word of prose or clause mark ("We get 2x + 3 = 12").
_PROSE_TOKEN = re.compile(r"(?<![\\A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])|[,:;]")


def _last_equation(masked: str, text: str) -> str | None:
    """`Hence y = 2x + 3`: the right side of the sentence's last equation, when it is a formula in plain
    text (no words: "= $18 every day" is a number and words, read as the number). An equation that does
    not start with a name is the answer as a whole: `2x + 3y = 12` states no 12, `x = 5 + 7 = 12` does."""
    tail = _EQUATION_TAIL.search(masked)
    if tail is None:
        return None
    value = text[tail.start(1) :].strip().rstrip(".").strip()
    if _WORD.search(value) or "$" in value:
        return None
    if re.search(r"[A-Za-z]", value):
        return value
    start = 0
    for token in _PROSE_TOKEN.finditer(masked, 0, tail.start()):
        word = token.group()
        if word.isupper():  # capitals are points (`AB + BC = 12`)
            continue
        if word in ",:;" or word.lower() in _SHORT_WORDS or len(word) > 2 and word.lower() not in MATH_WORDS:
            start = token.end()
    equation = text[start : tail.start()].replace("$", "").strip()
    first = equation.partition("=")[0]
    if not re.search(r"[A-Za-z]", first) or is_name(first):
        return None
    return f"{equation} = {value}"
