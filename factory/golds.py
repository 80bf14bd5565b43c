"""Gold answers as data sets carry them: an answer ("72"), or a whole reference solution that states it.

GSM8K's golds are worked solutions closing on a `#### 72` line; MATH's are solutions with the answer in
`\\boxed{}`. The verifier compares answers, and a whole solution is no answer: every verdict against one was
`unparseable_gold`. So a gold is read as `problems.gold` says (`--gold-extraction` in `factory verify`):

- `auto` (the default): a closing `####` line, else the last `\\boxed{}`, else the text as it is;
- `as_is`: the text as it is;
- `boxed`: the last `\\boxed{}` (balanced braces, the verifier's own reading);
- `hashes`: the text after the last `####`;
- `last_number`: the last number in the text;
- `pattern`: the first group of the last match of `problems.gold_pattern`.

A number read after `####` or as the last number loses its thousands commas (`#### 1,200` → `1200`). A gold
the chosen mode cannot read (`boxed` with no box, `pattern` with no match) is verified as given, and counted
and named in the summaries, so that a mode that does not fit the data shows at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from filters.extract import boxed_answer

# auto reads `####` only on the closing line: solutions written in Markdown open sections with `#### Step 1`.
_CLOSING_HASHES = re.compile(r"^[ \t]*####[ \t]*([^\n]*?)\s*\Z", re.MULTILINE)
_HASHES = re.compile(r"####[ \t]*([^\n]*)")
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# Ids of the golds a mode could not read, shown in a summary: enough to find the pattern in the data.
SHOWN_IDS = 5
# Above this share of verdicts against golds that could not be read, a summary says how to read them.
UNPARSEABLE_HINT_SHARE = 0.5
UNPARSEABLE_GOLD = "unparseable_gold"


def _numeric(text: str) -> str:
    return _THOUSANDS.sub("", text)


def _closing_hashes(text: str) -> str | None:
    found = _CLOSING_HASHES.search(text)
    return _numeric(found.group(1)) if found else None


def _hashes(text: str) -> str | None:
    found = _HASHES.findall(text)
    return _numeric(found[-1]) if found else None


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return _numeric(found[-1]) if found else None


def _pattern(pattern: str) -> Callable[[str], str | None]:
    compiled = re.compile(pattern, re.MULTILINE)

    def read(text: str) -> str | None:
        last = None
        for last in compiled.finditer(text):
            pass
        return last.group(1) if last is not None else None

    return read


def _auto(text: str) -> str:
    return _closing_hashes(text) or boxed_answer(text) or text


@dataclass(frozen=True)
class _Mode:
    read: Callable[[str], str | None] | None  # None: `pattern`, whose reader is made from the pattern
    lacking: str | None  # what a gold it cannot read lacks, as a summary says; None: it reads every gold


_MODES = {
    "auto": _Mode(_auto, None),
    "as_is": _Mode(lambda text: text, None),
    "boxed": _Mode(boxed_answer, "no \\boxed{}"),
    "hashes": _Mode(_hashes, "no #### line"),
    "last_number": _Mode(_last_number, "no number"),
    "pattern": _Mode(None, "no match of the gold pattern"),
}
GOLD_MODES = tuple(_MODES)


def reads_every_gold(mode: str) -> bool:
    """Whether `mode` reads an answer from any gold (`auto` and `as_is` fall back on the text)."""
    return _MODES[mode].lacking is None


def pattern_error(pattern: str) -> str | None:
    """What makes `pattern` no gold pattern (not a regex, not one group), or None."""
    try:
        groups = re.compile(pattern).groups
    except re.error as error:
        return f"is not a valid regex: {error}"
    return None if groups == 1 else f"must have one group, the answer; it has {groups}"


def gold_reader(mode: str, pattern: str | None = None) -> Callable[[str], str | None]:
    """A function reading a gold's answer as `mode` does; it answers None when it finds none (never in
    `auto` and `as_is`). `pattern` is `pattern`'s regex, whose first group is the answer.

    >>> gold_reader("auto")("She pays 3 * 4 = 12 dollars.\\n#### 12")
    '12'
    """
    made = _MODES[mode].read
    if made is None:
        if pattern is None:
            raise ValueError(f"the gold mode {mode!r} needs a pattern")
        made = _pattern(pattern)
    base: Callable[[str], str | None] = made

    def read(text: str) -> str | None:
        answer = base(text)
        answer = answer.strip() if answer is not None else None
        return answer or None

    return read


@dataclass(frozen=True)
class Setting:
    """How a summary names the gold settings to the user: as config keys, or as `factory verify`'s flags."""

    name: str
    pattern: str
    separator: str  # between the name and a value

    def set_to(self, mode: str) -> str:
        return f"{self.name}{self.separator}{mode}"


CONFIG_SETTING = Setting("problems.gold", "problems.gold_pattern", ": ")
FLAG_SETTING = Setting("--gold-extraction", "--gold-pattern", " ")


@dataclass
class GoldTally:
    """How the golds were read: by which mode, and which the mode could not read (verified as given)."""

    mode: str = "auto"
    unread: int = 0
    unread_ids: list[str] = field(default_factory=list)  # the first SHOWN_IDS

    def add_unread(self, gold_id: str) -> None:
        self.unread += 1
        if len(self.unread_ids) < SHOWN_IDS:
            self.unread_ids.append(gold_id)

    def lines(self, total: int, setting: Setting) -> list[str]:
        """A line naming the golds `mode` could not read, out of `total`; none when it read them all."""
        if not self.unread:
            return []
        shown = ", ".join(self.unread_ids)
        more = f" and {self.unread - len(self.unread_ids)} more" if self.unread > len(self.unread_ids) else ""
        lacking = f"{self.unread} of {total} have {_MODES[self.mode].lacking} ({setting.set_to(self.mode)})"
        return [f"golds      {lacking}, so they are verified as given: {shown}{more}"]


def unparseable_hint(unparseable: int, total: int, what: str, mode: str, setting: Setting) -> list[str]:
    """A line saying how to read the golds when most of `total` verdicts were `unparseable_gold`; none
    otherwise. `what` names what was counted: "golds", "samples' golds"."""
    if not total or unparseable / total <= UNPARSEABLE_HINT_SHARE:
        return []
    others = ", ".join(other for other in ("auto", "hashes", "boxed", "last_number") if other != mode)
    pattern = f"another {setting.pattern}" if mode == "pattern" else f"pattern with {setting.pattern}"
    advice = (
        f"if they are whole solutions, set {setting.name} to how they state their answer: {others}, "
        f"or {pattern}"
    )
    if mode == "auto":
        advice += " (auto found no closing #### line nor \\boxed{} in them)"
    unread = f"{unparseable} of {total} {what} could not be read as answers ({UNPARSEABLE_GOLD})"
    return [f"hint       {unread}; {advice}"]
