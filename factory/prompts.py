"""Prompt templates: YAML files in prompts/ rendered into chat messages (system + user).

A template has `user` (required), `system` and `completion` (the raw text for /v1/completions teachers).
`{problem}` is replaced by the problem text; no other brace is special, so LaTeX needs no escaping.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from factory.errors import FactoryError
from factory.records import Message

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
PLACEHOLDER = "{problem}"
_KEYS = ("system", "user", "completion")


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    hash: str  # sha256 of the file's bytes, first 16 hex digits: recorded with every sample
    user: str
    system: str | None = None
    completion: str | None = None

    def messages(self, problem: str) -> list[Message]:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": self.user.replace(PLACEHOLDER, problem)})
        return messages

    def completion_text(self, problem: str) -> str:
        if self.completion is not None:
            return self.completion.replace(PLACEHOLDER, problem)
        return "\n\n".join(message["content"] for message in self.messages(problem))


def load_template(name_or_path: str) -> PromptTemplate:
    """A template by name (`boxed_cot` → prompts/boxed_cot.yaml) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml"))
        raise FactoryError(
            f"prompt.template: no template {name_or_path!r} (looked for {path}); "
            f"available in prompts/: {', '.join(available)}"
        )
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise FactoryError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("user"), str):
        raise FactoryError(
            f"{path}: a template needs a `user` string (and optionally `system`, `completion`)"
        )
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise FactoryError(f"{path}: unknown key {unknown[0]!r}; valid keys: {', '.join(_KEYS)}")
    if PLACEHOLDER not in data["user"]:
        raise FactoryError(f"{path}: `user` must contain the placeholder {PLACEHOLDER}")
    return PromptTemplate(
        name=path.stem,
        hash=hashlib.sha256(raw).hexdigest()[:16],
        user=data["user"],
        system=data.get("system"),
        completion=data.get("completion"),
    )
