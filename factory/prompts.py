"""Prompt templates: YAML files in prompts/ rendered into chat messages (system + user).

A template has `user` (required), `system` and `completion` (the raw text for /v1/completions teachers).
Teacher templates fill `{problem}`; judge templates (prompts/judge/) also `{gold}` and `{response}`. No
other brace is special, so LaTeX needs no escaping, and each placeholder is filled in one pass: a value
that contains `{gold}` stays as written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from factory.config import load_yaml, not_utf8_error, yaml_error
from factory.errors import FactoryError
from factory.records import Message

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_KEYS = ("system", "user", "completion")


@dataclass(frozen=True, slots=True)
class TemplateKind:
    """Where templates of one use live, the config key that names one (for errors) and what they fill."""

    key: str
    folder: Path
    placeholders: tuple[str, ...]


TEACHER = TemplateKind("prompt.template", PROMPTS_DIR, ("problem",))
JUDGE = TemplateKind("reject.judge.template", PROMPTS_DIR / "judge", ("problem", "gold", "response"))


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    hash: str  # sha256 of the file's bytes, first 16 hex digits: recorded with every sample
    user: str
    system: str | None = None
    completion: str | None = None

    @property
    def answer_format(self) -> str | None:
        """How the template asks for the final answer, read from its text: "boxed" (`\\boxed{}`),
        "answer_line" (a closing "Answer:" line) or None. The `format` trace filter holds traces to it."""
        text = "\n".join(part for part in (self.system, self.user, self.completion) if part)
        if "\\boxed" in text:
            return "boxed"
        if "Answer:" in text:
            return "answer_line"
        return None

    def messages(self, problem: str, **values: str) -> list[Message]:
        """System and user messages; `values` fill a judge template's `{gold}` and `{response}`."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": _fill(self.user, {"problem": problem, **values})})
        return messages

    def completion_text(self, problem: str) -> str:
        if self.completion is not None:
            return _fill(self.completion, {"problem": problem})
        return "\n\n".join(message["content"] for message in self.messages(problem))


def _fill(text: str, values: dict[str, str]) -> str:
    names = "|".join(map(re.escape, values))
    return re.sub(r"\{(" + names + r")\}", lambda match: values[match.group(1)], text)


def load_template(name_or_path: str, kind: TemplateKind = TEACHER) -> PromptTemplate:
    """A template by name (`boxed_cot` → prompts/boxed_cot.yaml; for the judge, prompts/judge/NAME.yaml)
    or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = kind.folder / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in kind.folder.glob("*.yaml"))
        raise FactoryError(
            f"{kind.key}: no template {name_or_path!r} (looked for {path}); "
            f"available in {kind.folder.relative_to(PROMPTS_DIR.parent)}/: {', '.join(available)}"
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise FactoryError(f"{path}: cannot read the template ({error.strerror})") from None
    try:
        data = load_yaml(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
    except yaml.YAMLError as error:
        raise yaml_error(path, error) from None
    if not isinstance(data, dict) or not isinstance(data.get("user"), str):
        raise FactoryError(
            f"{path}: a template needs a `user` string (and optionally `system`, `completion`)"
        )
    unknown = sorted(map(str, set(data) - set(_KEYS)))
    if unknown:
        raise FactoryError(f"{path}: unknown key {unknown[0]!r}; valid keys: {', '.join(_KEYS)}")
    for key in ("system", "completion"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise FactoryError(f"{path}: `{key}` must be a string, got {type(data[key]).__name__}")
    for name in kind.placeholders:
        if f"{{{name}}}" not in data["user"]:
            raise FactoryError(f"{path}: `user` must contain the placeholder {{{name}}}")
    return PromptTemplate(
        name=path.stem,
        hash=hashlib.sha256(raw).hexdigest()[:16],
        user=data["user"],
        system=data.get("system"),
        completion=data.get("completion"),
    )
