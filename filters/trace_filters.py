"""Trace filters: which verified traces are fit to teach, judged one trace at a time.

A correct answer is not yet a good training row. A trace cut off at `max_tokens`, an answer stated in
another form than the prompt asked, a degenerate loop, a hedge between boxed answers, an answer with no
work or a drift into another writing system all teach the student a habit we do not want, and the verifier
cannot see any of them. Each filter here is a frozen dataclass whose fields are its parameters (a config
section builds it with `TRACE_FILTERS[name](**params)`), with one method, `drop_reason`, answering None
(keep) or a snake_case reason. The curate stage (`filters.curation.curate_problem`) runs them in the
configured order and counts the drops by filter and reason; filters never count.

Every filter reads the whole trace the student learns, reasoning in `<think>` included, except where its
docstring says it reads only the answer after the last `</think>` (as the verifier does).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filters.curation import Trace
from filters.extract import all_boxes

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Kana and Han are written without spaces: one character stands for about one word.
_SPACELESS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_SPACELESS}]|[^\W_{_SPACELESS}]+")
_LATEX_MARKUP = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+")
_THINK_TAG = re.compile(r"</?think>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
# Where a sentence ends: a line break, `.`/`!`/`?` before a space (not a decimal point), `。！？`.
_SENTENCE_BREAK = re.compile(r"\n|(?<=[.!?])[ \t]+|(?<=[。！？])")


@dataclass(frozen=True, slots=True)
class TruncatedFilter:
    """Drop a trace the engine cut off at `max_tokens` (vLLM's and the OpenAI API's finish_reason "length"):
    its reasoning never ended, and an answer found in it was stated before the work was done."""

    def drop_reason(self, trace: Trace) -> str | None:
        return "truncated" if trace.finish_reason == "length" else None


# How the verifier finds an answer stated the way each prompt format asks (`Trace.found_by`), and the reason
# when it found it some other way. find_answer reads a closing "Answer: 42" line as a `marker`; `pattern` is
# the data set's own regex, which a user writes for exactly that line.
_STATED_AS_ASKED: dict[str, tuple[frozenset[str], str]] = {
    "boxed": (frozenset({"boxed"}), "not_boxed"),
    "answer_line": (frozenset({"marker", "pattern"}), "no_answer_line"),
}
ASKED_FORMATS = tuple(_STATED_AS_ASKED)


@dataclass(frozen=True, slots=True)
class FormatFilter:
    """Drop a trace whose answer the verifier found in another form than the prompt asked for: a bare
    `13 + 20 = 33` accepted under a boxed prompt teaches the student to drop the box. A trace whose prompt
    asked for no format (`asked_format` None, or one not in ASKED_FORMATS) is kept."""

    def drop_reason(self, trace: Trace) -> str | None:
        if trace.asked_format not in _STATED_AS_ASKED:
            return None
        accepted, reason = _STATED_AS_ASKED[trace.asked_format]
        return None if trace.found_by in accepted else reason


@dataclass(frozen=True, slots=True)
class TokenLengthFilter:
    """Drop traces outside token bounds, and every trace of a problem over `max_problem_tokens`
    (NeMo-Skills' `RemoveLenOutliers` drops length outliers of problem and solution by the model's tokenizer).

    `tokenizer` is a folder holding `tokenizer.json` (the student's, so bounds mean its context), loaded once
    per process. Without it, a trace counts the teacher's `completion_tokens`, or its whitespace words when
    the engine gave no count, and the problem counts its whitespace words.
    """

    tokenizer: str | None = None
    min_tokens: int = 1  # an empty trace teaches nothing
    max_tokens: int | None = None
    max_problem_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.tokenizer is not None and not (
            isinstance(self.tokenizer, str) and (Path(self.tokenizer) / "tokenizer.json").is_file()
        ):
            raise ValueError(f"tokenizer must be a folder holding tokenizer.json, got {self.tokenizer!r}")
        _require_count("min_tokens", self.min_tokens, minimum=0)
        if self.max_tokens is not None:
            _require_count("max_tokens", self.max_tokens, minimum=max(self.min_tokens, 1))
        if self.max_problem_tokens is not None:
            _require_count("max_problem_tokens", self.max_problem_tokens, minimum=1)

    def drop_reason(self, trace: Trace) -> str | None:
        if self.max_problem_tokens is not None and self._count(trace.problem) > self.max_problem_tokens:
            return "problem_too_long"  # first: the problem, not this trace, is the cause
        if self.tokenizer is not None or trace.completion_tokens is None:
            tokens = self._count(trace.text)
        else:
            tokens = trace.completion_tokens
        if tokens < self.min_tokens:
            return "too_short"
        if self.max_tokens is not None and tokens > self.max_tokens:
            return "too_long"
        return None

    def _count(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return count_tokens(self.tokenizer, text)


def count_tokens(folder: str, text: str) -> int:
    """The tokens of `text` by the tokenizer in `folder` (its tokenizer.json), special tokens left out."""
    return len(_load_tokenizer(folder).encode(text, add_special_tokens=False).ids)


@functools.cache
def _load_tokenizer(folder: str) -> Tokenizer:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


@dataclass(frozen=True, slots=True)
class RepetitionFilter:
    """Drop degenerate repetition: a loop restating one sentence, a paragraph written again and again
    (Gopher's repetition rules, with datatrove's `GopherRepetitionFilter` defaults as our defaults).

    Our own scheme, checked in this order, the first bound exceeded naming the reason:
    - lines and paragraphs (blank-line separated), ignoring those with no letter or digit once LaTeX markup
      is set aside (`\\[`, `\\]`, `$$`, `\\end{aligned}` recur in every displayed formula): the fraction of
      them that repeat an earlier one (`repeated_paragraphs`, `repeated_lines`) and the fraction of their
      characters in those repeats (`repeated_paragraph_chars`, `repeated_line_chars`);
    - words (runs of letters and digits, each kana or Han character one word, LaTeX command names left out,
      case folded): for n = 2, 3, 4 the characters of the words of the most frequent n-gram, times its count,
      when it occurs twice or more (`top_2gram` …), and for n = 5 … 10 the characters of the words covered
      by n-grams repeating an earlier one (`duplicated_5gram` …), each as a share of the text's characters.

    Maths chain-of-thought is short and legitimately restates results (`= 12`, `x = 3`), where a fraction of
    a handful of lines is noise, so line checks need `min_lines` lines, paragraph checks `min_paragraphs`
    paragraphs and n-gram checks `min_words` words. And maths checks cases: "n = 4: n^2 + 1 = 17, which is
    not divisible by 29." written for n = 1 … 12 repeats its words as a loop does (its top 4-gram covers 0.28
    of the text, over the 0.16 bound), so the n-gram checks read only the first sentence of a family of
    sentences that differ only in their numbers; a sentence repeated word for word (a loop) is read every
    time. A loop that counts up ("the answer is 8. the answer is 9. …") therefore passes; it usually runs
    to `max_tokens`, where `truncated` drops it.
    """

    max_duplicate_line_fraction: float = 0.3
    max_duplicate_paragraph_fraction: float = 0.3
    max_duplicate_line_char_fraction: float = 0.2
    max_duplicate_paragraph_char_fraction: float = 0.2
    top_ngram_shares: tuple[float, ...] = (0.20, 0.18, 0.16)  # for n = 2, 3, 4 …
    duplicated_ngram_shares: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)  # for n = 5, 6 … 10
    min_lines: int = 10
    min_paragraphs: int = 5
    min_words: int = 50

    def __post_init__(self) -> None:
        _require_fraction("max_duplicate_line_fraction", self.max_duplicate_line_fraction)
        _require_fraction("max_duplicate_paragraph_fraction", self.max_duplicate_paragraph_fraction)
        _require_fraction("max_duplicate_line_char_fraction", self.max_duplicate_line_char_fraction)
        _require_fraction("max_duplicate_paragraph_char_fraction", self.max_duplicate_paragraph_char_fraction)
        for name in ("top_ngram_shares", "duplicated_ngram_shares"):
            # A YAML list arrives as a list; a frozen dataclass holds a tuple.
            object.__setattr__(self, name, _require_fractions(name, getattr(self, name)))
        _require_count("min_lines", self.min_lines, minimum=1)
        _require_count("min_paragraphs", self.min_paragraphs, minimum=1)
        _require_count("min_words", self.min_words, minimum=1)

    def drop_reason(self, trace: Trace) -> str | None:
        text = _THINK_TAG.sub("\n\n", trace.text)
        paragraphs = _with_content(re.split(r"\n[ \t]*\n", text))
        if len(paragraphs) >= self.min_paragraphs:
            fraction, char_fraction = _repeat_fractions(paragraphs)
            if fraction > self.max_duplicate_paragraph_fraction:
                return "repeated_paragraphs"
            if char_fraction > self.max_duplicate_paragraph_char_fraction:
                return "repeated_paragraph_chars"
        lines = _with_content(text.split("\n"))
        if len(lines) >= self.min_lines:
            fraction, char_fraction = _repeat_fractions(lines)
            if fraction > self.max_duplicate_line_fraction:
                return "repeated_lines"
            if char_fraction > self.max_duplicate_line_char_fraction:
                return "repeated_line_chars"
        prose = _without_case_checks(text)
        words = _words(prose)
        if len(words) < self.min_words:
            return None
        for n, share in enumerate(self.top_ngram_shares, start=2):
            if _top_ngram_share(words, n, len(prose)) > share:
                return f"top_{n}gram"
        for n, share in enumerate(self.duplicated_ngram_shares, start=5):
            if _duplicated_ngram_share(words, n, len(prose)) > share:
                return f"duplicated_{n}gram"
        return None


def _words(text: str) -> list[str]:
    return _WORD.findall(_LATEX_MARKUP.sub(" ", text).casefold())


def _without_case_checks(text: str) -> str:
    """`text` without the sentences that only change the numbers of an earlier one (n = 2, 3 … of a case
    check); a sentence repeated word for word stays every time."""
    sentences: list[str] = []
    seen: set[str] = set()
    seen_shapes: set[str] = set()
    for sentence in _SENTENCE_BREAK.split(text):
        shape = re.sub(r"\d+", "0", sentence)
        if sentence in seen or shape not in seen_shapes:
            sentences.append(sentence)
        seen.add(sentence)
        seen_shapes.add(shape)
    return "\n".join(sentences)


def _with_content(parts: list[str]) -> list[str]:
    """The parts, stripped, that hold a letter or digit outside LaTeX markup."""
    return [part.strip() for part in parts if _WORD.search(_LATEX_MARKUP.sub("", part))]


def _repeat_fractions(parts: list[str]) -> tuple[float, float]:
    """The fraction of `parts` that repeat an earlier part, and the fraction of characters in them."""
    seen: set[str] = set()
    repeats = repeated_chars = 0
    for part in parts:
        if part in seen:
            repeats += 1
            repeated_chars += len(part)
        seen.add(part)
    return repeats / len(parts), repeated_chars / sum(map(len, parts))


def _top_ngram_share(words: list[str], n: int, text_chars: int) -> float:
    """The characters of the most frequent n-gram (the longest among ties) times its count, 0 when none
    recurs, as a share of `text_chars`."""
    counts = Counter(tuple(words[at : at + n]) for at in range(len(words) - n + 1))
    if not counts:
        return 0.0
    top = max(counts.values())
    if top < 2:
        return 0.0
    covered = max(top * sum(map(len, gram)) for gram, count in counts.items() if count == top)
    return min(1.0, covered / text_chars)  # overlapping occurrences ("a a a") can count a word twice


def _duplicated_ngram_share(words: list[str], n: int, text_chars: int) -> float:
    """The characters of the words covered by an n-gram that repeats an earlier occurrence, as a share of
    `text_chars`."""
    covered = [False] * len(words)
    seen: set[tuple[str, ...]] = set()
    for at in range(len(words) - n + 1):
        gram = tuple(words[at : at + n])
        if gram in seen:
            covered[at : at + n] = [True] * n
        seen.add(gram)
    return sum(len(word) for word, is_covered in zip(words, covered, strict=True) if is_covered) / text_chars


@dataclass(frozen=True, slots=True)
class ThinkFormatFilter:
    """Drop a reasoning trace that is not one `<think>…</think>` block followed by an answer: the shape a
    reasoning student must learn (DeepSeek-R1's format reward; Open-R1's `format_reward`). Off by default,
    as a trace from a model that does not think has no block."""

    def drop_reason(self, trace: Trace) -> str | None:
        opens = [match.start() for match in _THINK_OPEN.finditer(trace.text)]
        closes = [match.end() for match in _THINK_CLOSE.finditer(trace.text)]
        if not opens:
            return "no_think"
        if len(opens) > 1 or len(closes) > 1:
            return "several_think"
        if not closes or closes[0] < opens[0]:
            return "unclosed_think"
        if not trace.text[closes[0] :].strip():
            return "no_answer_after_think"
        return None


@dataclass(frozen=True, slots=True)
class SeveralBoxesFilter:
    """Drop a trace that boxes different answers on different lines: the verifier reads the last one, and
    the student learns to hedge (NeMo-Skills' `DropMultiBoxed`). Kept: the same answer boxed again, and
    several boxes on the final line, which the verifier reads as one multi-part answer (`\\boxed{2},
    \\boxed{3}`). Only the answer after the last `</think>` is read, as the verifier reads it: boxing a
    candidate while thinking is exploring, not hedging. Contents are compared without whitespace.
    """

    def drop_reason(self, trace: Trace) -> str | None:
        answer = _THINK_CLOSE.split(trace.text)[-1]
        # An empty box in prose ("put the answer in \boxed{}") states nothing.
        boxes = [(start, content) for start, _, raw in all_boxes(answer) if (content := _box_content(raw))]
        if len(boxes) < 2:
            return None
        final_line = answer.rfind("\n", 0, boxes[-1][0]) + 1
        final = {content for start, content in boxes if start >= final_line}
        if any(content not in final for start, content in boxes if start < final_line):
            return "several_boxed_answers"
        return None


def _box_content(content: str) -> str:
    while content.startswith(("\\boxed", "\\fbox")):  # `\boxed{\boxed{5}}` states 5
        inner = all_boxes(content)
        if not inner:
            break
        content = inner[0][2]
    return re.sub(r"\s+", "", content)


@dataclass(frozen=True, slots=True)
class TrivialReasoningFilter:
    """Drop an answer stated with no work: fewer than `min_words` words of reasoning before the final
    answer statement. A student trained on `\\boxed{33}` alone learns to guess.

    The final statement is the last sentence holding the verifier's answer (or a box, or the last sentence
    when neither is found), with everything after it (sign-offs). Reasoning is every sentence before it,
    `<think>` included, boxes removed; words are runs of letters and digits (numbers are work, each kana or
    Han character a word) outside LaTeX command names.

    The default 6 was set on cases: a lone equation with a word or two (`So 13 + 20 = 33`, 4 words) is no
    work; one sentence of explanation ("We add 13 and 20 to get 33.", 8) or two chained equations
    (`3 × 4 = 12`, `12 − 5 = 7`: 6) is.
    """

    min_words: int = 6

    def __post_init__(self) -> None:
        _require_count("min_words", self.min_words, minimum=1)

    def drop_reason(self, trace: Trace) -> str | None:
        sentences = [s for s in _SENTENCE_BREAK.split(_THINK_TAG.sub("\n", trace.text)) if s.strip()]
        reasoning = "\n".join(sentences[: _final_statement(sentences, trace.answer)])
        for start, end, _ in reversed(all_boxes(reasoning)):
            reasoning = reasoning[:start] + " " + reasoning[end:]
        return "trivial_reasoning" if len(_words(reasoning)) < self.min_words else None


def _final_statement(sentences: list[str], answer: str | None) -> int:
    """The index of the sentence that states the final answer."""
    for marks in ([answer] if answer else [], ["\\boxed", "\\fbox"]):
        for at in reversed(range(len(sentences))):
            if any(mark in sentences[at] for mark in marks):
                return at
    return len(sentences) - 1


# Unicode name prefixes of the writing systems told apart, mapped to one script each (Japanese writes kana
# and Han, so both kanas are one script). Greek is left out: α, β, π, θ are maths in every language; so are
# the MATHEMATICAL, DOUBLE-STRUCK, SCRIPT letters (𝑥, ℝ, ℒ), which no table entry names.
_SCRIPTS = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "ARMENIAN": "Armenian",
    "GEORGIAN": "Georgian",
    "HEBREW": "Hebrew",
    "ARABIC": "Arabic",
    "DEVANAGARI": "Devanagari",
    "BENGALI": "Bengali",
    "GURMUKHI": "Gurmukhi",
    "GUJARATI": "Gujarati",
    "TAMIL": "Tamil",
    "TELUGU": "Telugu",
    "KANNADA": "Kannada",
    "MALAYALAM": "Malayalam",
    "SINHALA": "Sinhala",
    "THAI": "Thai",
    "LAO": "Lao",
    "KHMER": "Khmer",
    "MYANMAR": "Myanmar",
    "ETHIOPIC": "Ethiopic",
    "CJK": "Han",
    "HIRAGANA": "Kana",
    "KATAKANA": "Kana",
    "KATAKANA-HIRAGANA": "Kana",
    "HANGUL": "Hangul",
}
# Maths is script-neutral: formulas, LaTeX commands, `<think>` tags, and Latin words of one or two letters
# (variables and units: `x`, `ab`, `cm`, `kg`, written in every language's maths).
_SCRIPT_NEUTRAL = re.compile(
    r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|\$[^$\n]*\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"
    r"|\\[A-Za-z]+|</?think>|(?<![A-Za-z])[A-Za-z]{1,2}(?![A-Za-z])",
    re.DOTALL | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ScriptMixFilter:
    """Drop a trace whose letters are more than `max_foreign_share` in writing systems the problem does
    not use: an English problem answered with a drift into Chinese, a known failure of small multilingual
    models (DeepSeek-R1 filters chain-of-thought that mixes languages). Maths is no script (see
    _SCRIPT_NEUTRAL); a problem with no letters outside it is not judged.

    The default 0.1 keeps what a clean trace carries outside its problem's script (`Step 1`, `sin`, a
    name, in a Chinese trace: a few percent) and drops a drift of a paragraph or more. Han writes a word in
    one or two characters where English spends about five letters, so a drift into Chinese weighs less
    than its share of the text: lower the share to catch a sentence of it.
    """

    max_foreign_share: float = 0.1

    def __post_init__(self) -> None:
        _require_fraction("max_foreign_share", self.max_foreign_share)

    def drop_reason(self, trace: Trace) -> str | None:
        if trace.text.isascii() and trace.problem.isascii():
            return None  # every letter of both is Latin: none foreign (counting them char by char is slow)
        allowed = set(_script_letters(trace.problem))
        if not allowed:
            return None
        letters = _script_letters(trace.text)
        total = sum(letters.values())
        foreign = sum(count for script, count in letters.items() if script not in allowed)
        return "script_mix" if total and foreign / total > self.max_foreign_share else None


def _script_letters(text: str) -> Counter[str]:
    """How many letters of each script `text` writes outside maths."""
    return Counter(
        script
        for char in _SCRIPT_NEUTRAL.sub(" ", text)
        if char.isalpha() and (script := _script(char)) is not None
    )


@functools.cache
def _script(char: str) -> str | None:
    words = unicodedata.name(char, "").split()
    if words and words[0] in ("FULLWIDTH", "HALFWIDTH"):
        words = words[1:]  # `Ａ` is Latin, `ｶ` is kana
    return _SCRIPTS.get(words[0]) if words else None


def _require_count(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _require_fraction(name: str, value: object) -> None:
    if not _is_fraction(value):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def _require_fractions(name: str, value: object) -> tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(map(_is_fraction, value)):
        raise ValueError(f"{name} must be a list of numbers in [0, 1], got {value!r}")
    return tuple(value)


def _is_fraction(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value <= 1


TRACE_FILTERS: dict[str, type] = {
    "truncated": TruncatedFilter,
    "format": FormatFilter,
    "token_length": TokenLengthFilter,
    "repetition": RepetitionFilter,
    "think_format": ThinkFormatFilter,
    "several_boxes": SeveralBoxesFilter,
    "trivial_reasoning": TrivialReasoningFilter,
    "script_mix": ScriptMixFilter,
}
DEFAULT_TRACE_FILTERS = (
    "truncated",
    "format",
    "several_boxes",
    "repetition",
    "trivial_reasoning",
    "script_mix",
)
