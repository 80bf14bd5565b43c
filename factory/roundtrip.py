"""The TRL round trip: each row rendered and tokenized exactly as TRL 1.16's SFTTrainer will train on it.

TRL damages reasoning rows silently at training time. A row longer than `max_length` is cut at its end,
so the student learns a trace without its answer; a chat template that strips `<think>...</think>` from
assistant turns (DeepSeek-R1-Distill's, for one) trains the student on the answer alone. Neither raises
an error or a warning in TRL, so we look before training.

What SFTTrainer does with a conversational prompt-completion row (trl 1.16, trl/trainer/sft_trainer.py,
`SFTTrainer._prepare_dataset`):
  - `tokenize_fn`: `prompt_ids = _tokenize(tok, prompt, add_generation_prompt=True, chat_template=None,
    tools=None)` and `ids = _tokenize(tok, prompt + completion, return_assistant_tokens_mask=False,
    chat_template=None, tools=None)`; `_tokenize` (trl/data_utils.py) is
    `tok.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)`, which transformers
    implements as render-to-text, then `tok(text, add_special_tokens=False)`. The completion starts at
    `common_prefix_length(prompt_ids, ids)`; prompt tokens get label -100 (`build_labels`).
  - "Truncate to max_length": `truncation_mode="keep_start"` (the default) keeps `ids[:max_length]`,
    so the end of the trace (the answer) is what goes.
  - "Drop examples left fully masked by truncation": a row whose prompt alone fills `max_length` keeps
    no completion token and is filtered out of the training set.
`self.chat_template` is None there unless `assistant_only_loss=True`, so the tokenizer's own template (or
the one `SFTConfig.chat_template_path` installs on it) is what renders the row; our rows carry no `tools`
or `chat_template_kwargs` column.

We render the text once (the think check needs it) and tokenize it with `add_special_tokens=False`: the
same ids as TRL's call (tested against TRL's own preparation), one tokenizer pass a row; the prompt is
tokenized too only for rows already over max_length. Measured on the embedded tokenizer, 2 shared CPU
cores: about 1 s per 1,000 rows of ~500 tokens and 8-9 s per 1,000 rows of ~3,600 tokens. Tokenizing is
nearly all of it (rendering 1,000 rows takes 20 ms); `check_many` batches it so the Rust tokenizer can
use every core.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from factory.errors import FactoryError

THINK_DROPPED = "think_dropped"
OVER_MAX_LENGTH = "over_max_length"

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RowCheck:
    """What TRL would train on for one row: its token count, and the first problem found (or None).

    `prompt_fills` is set, for a row over max_length only, when its prompt alone fills max_length: TRL
    then drops the row from the training set instead of truncating it.
    """

    tokens: int
    reason: str | None
    prompt_fills: bool = False


def reasoning_of(text: str) -> str | None:
    """The reasoning of a trace's `<think>...</think>` block, or None when it has none (or an empty one).

    A trace that only closes the block (`reasoning</think>answer`, from a teacher whose generation prompt
    opened it) counts too.
    """
    match = _THINK_BLOCK.search(text)
    if match:
        reasoning = match.group(1)
    elif "</think>" in text:
        reasoning = text.split("</think>", 1)[0]
    else:
        return None
    return reasoning.strip() or None


def _squash(text: str) -> str:
    # Templates reformat the block (Qwen3 re-wraps it as "<think>\n...\n</think>\n\n"): compare words only.
    return " ".join(text.split())


def _common_prefix_length(ids: list[int], other: list[int]) -> int:
    length = 0
    for token, other_token in zip(ids, other, strict=False):
        if token != other_token:
            break
        length += 1
    return length


class RoundTrip:
    """Checks rows against a student's tokenizer and chat template as SFTTrainer would render them.

    Example: `RoundTrip.load("embedded:smollm2-135m-instruct", 1024, None, log).check(prompt, completion)`
    gives `RowCheck(tokens=412, reason=None)` for a clean row.
    """

    def __init__(self, tokenizer: Any, max_length: int, name: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.name = name or str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
        template = tokenizer.get_chat_template()  # the string apply_chat_template will render with
        self.chat_template_hash = hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def load(cls, tokenizer: str, max_length: int, chat_template: str | None, log: Any) -> RoundTrip:
        """The student's tokenizer (a folder, a model id, or the embedded name), with `chat_template` (a
        Jinja file) replacing its own template when given."""
        try:
            from transformers import AutoTokenizer
        except ImportError as error:
            raise FactoryError(
                f"the round-trip check needs transformers ({error}); install factory[embedded]"
            ) from None
        from factory.embedded import resolve_model

        path = resolve_model(tokenizer, log)
        try:
            loaded = AutoTokenizer.from_pretrained(path)
        except Exception as error:  # noqa: BLE001 - transformers raises OSError, ValueError, KeyError...
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise FactoryError(f"student tokenizer {tokenizer!r}: cannot load it ({first_line})") from None
        if chat_template is not None:
            try:
                loaded.chat_template = Path(chat_template).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise FactoryError(f"chat_template: cannot read {chat_template} ({error})") from None
        if not loaded.chat_template:
            raise FactoryError(
                f"student tokenizer {tokenizer!r} has no chat template; give one as a Jinja file (chat_template)"
            )
        return cls(loaded, max_length, name=tokenizer)

    def check(self, prompt: list[dict[str, Any]], completion: list[dict[str, Any]]) -> RowCheck:
        return self.check_many([(prompt, completion)])[0]

    def check_many(self, rows: Sequence[tuple[list[dict[str, Any]], list[dict[str, Any]]]]) -> list[RowCheck]:
        """`check` for a batch of (prompt, completion) rows: one tokenizer call for all of them, which the
        Rust tokenizer spreads over the CPU cores."""
        texts = [self.tokenizer.apply_chat_template([*p, *c], tokenize=False) for p, c in rows]
        if not texts:
            return []
        all_ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [
            self._judge(prompt, completion, text, ids)
            for (prompt, completion), text, ids in zip(rows, texts, all_ids, strict=True)
        ]

    def _judge(
        self, prompt: list[dict[str, Any]], completion: list[dict[str, Any]], text: str, ids: list[int]
    ) -> RowCheck:
        squashed = None
        for message in completion:
            reasoning = reasoning_of(message.get("content") or "")
            if reasoning is not None:
                squashed = squashed if squashed is not None else _squash(text)
                if _squash(reasoning) not in squashed:
                    return RowCheck(len(ids), THINK_DROPPED)
        if len(ids) > self.max_length:
            return RowCheck(len(ids), OVER_MAX_LENGTH, prompt_fills=self._prompt_fills(prompt, ids))
        return RowCheck(len(ids), None)

    def _prompt_fills(self, prompt: list[dict[str, Any]], ids: list[int]) -> bool:
        # Only for rows already too long, so clean rows pay one tokenizer pass, not two.
        prompt_text = self.tokenizer.apply_chat_template(
            list(prompt), tokenize=False, add_generation_prompt=True
        )
        prompt_ids = self.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        return _common_prefix_length(prompt_ids, ids) >= self.max_length

    def report(self, policy: str) -> RoundTripReport:
        """An empty report for this tokenizer and template, to `add` each row's check to."""
        return RoundTripReport(
            max_length=self.max_length,
            policy=policy,
            tokenizer=self.name,
            chat_template_hash=self.chat_template_hash,
        )


@dataclass
class RoundTripReport:
    """The round trip's counts, for the manifest and the dataset card."""

    max_length: int
    policy: str  # warn | drop | fail
    tokenizer: str
    chat_template_hash: str  # sha256[:16] of the template text that rendered the rows
    rows: int = 0
    think_dropped: int = 0
    over_max_length: int = 0
    prompt_fills: int = 0  # of over_max_length: rows TRL leaves out altogether (no completion token left)
    longest: int = 0
    dropped: int = 0  # rows left out under policy drop

    def add(self, check: RowCheck) -> None:
        self.rows += 1
        self.longest = max(self.longest, check.tokens)
        if check.reason == THINK_DROPPED:
            self.think_dropped += 1
        elif check.reason == OVER_MAX_LENGTH:
            self.over_max_length += 1
            self.prompt_fills += check.prompt_fills
        if check.reason is not None and self.policy == "drop":
            self.dropped += 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self, setting: str = "package.student.policy") -> str | None:
        """One line saying what was found, or None for a clean run; `setting` is the config key to name."""
        found: list[tuple[int, str]] = []
        if self.think_dropped:
            found.append((self.think_dropped, "lose their <think> block to the chat template"))
        if self.over_max_length:
            fills = (
                f", {self.prompt_fills} of them with a prompt that alone fills it"
                if self.prompt_fills
                else ""
            )
            found.append(
                (
                    self.over_max_length,
                    f"exceed max_length={self.max_length} tokens (longest {self.longest}){fills}",
                )
            )
        if not found:
            return None
        (count, what), *rest = found
        head = ", ".join([f"round trip: {count} of {self.rows} rows {what}", *(f"{n} {w}" for n, w in rest)])
        if self.policy == "drop":
            rows = "row" if self.dropped == 1 else "rows"
            return f"{head}; {self.dropped} {rows} left out ({setting}: drop)."
        return (
            f"{head}; TRL would train on damaged rows. Set {setting}: drop to leave them out, "
            "or fix the template / raise max_length."
        )
