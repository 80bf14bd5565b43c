"""What each config key means, for `factory config show` and the configuration reference (docs/).

A key's help is its field's `metadata["help"]` when it has one, else the comment written beside the field
in factory/config.py (the full-line comments just above it, then the one at the end of its line): the
explanation lives once, next to the field, and the command and the reference read it from there.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import tokenize
import typing
from collections.abc import Iterator
from typing import Any

import yaml


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    key: str  # dotted: teacher.max_concurrency
    value: Any  # the value in the config shown (the default, in the reference)
    help: str
    section: bool  # a nested config (its keys follow), not a value


@functools.cache
def field_help(cls: type) -> dict[str, str]:
    """Each field of the dataclass `cls` → its help ("" where it has none)."""
    source = inspect.getsource(cls)
    comments: dict[int, tuple[str, bool]] = {}  # line → (text, whole line)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            whole = token.line.strip().startswith("#")
            comments[token.start[0]] = (token.string.lstrip("#").strip(), whole)
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.ClassDef)
    found: dict[str, str] = {}
    for statement in node.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        above: list[str] = []
        line = statement.lineno - 1
        while line in comments and comments[line][1]:
            above.insert(0, comments[line][0])
            line -= 1
        after = [
            comments[line][0]
            for line in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
            if line in comments and not comments[line][1]
        ]
        found[statement.target.id] = " ".join([*above, *after])
    for item in dataclasses.fields(cls):
        if item.metadata.get("help"):
            found[item.name] = item.metadata["help"]
    return found


def entries(config: Any, prefix: str = "") -> Iterator[Entry]:
    """Every key of the config dataclass instance `config`, depth first, in field order."""
    helps = field_help(type(config))
    for item in dataclasses.fields(config):
        if not item.init:
            continue
        value = getattr(config, item.name)
        key = prefix + item.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield Entry(key, None, helps.get(item.name, "") or _doc(type(value)), True)
            yield from entries(value, key + ".")
        else:
            yield Entry(key, value, helps.get(item.name, "") or _nested_doc(item), False)


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split()) if doc and not doc.startswith(cls.__name__ + "(") else ""


def _nested_doc(item: dataclasses.Field[Any]) -> str:
    """A field holding an optional section (`judge: JudgeConfig | None`): that section's docstring."""
    for hint in typing.get_args(item.type) if not isinstance(item.type, str) else ():
        if dataclasses.is_dataclass(hint):
            return _doc(hint)
    return ""


def show(config: Any) -> str:
    """`config` as YAML, each key followed by its help as a comment: what `factory config show` prints."""
    lines = []
    for entry in entries(config):
        depth = entry.key.count(".")
        name = entry.key.rsplit(".", 1)[-1]
        indent = "  " * depth
        if entry.section:
            text = f"{indent}{name}:"
        else:
            value = yaml.safe_dump(entry.value, default_flow_style=True, width=10**6).strip()
            value = value.removesuffix("\n...").removesuffix("...").strip()
            text = f"{indent}{name}: {value}"
        lines.append(f"{text}  # {entry.help}" if entry.help else text)
    return "\n".join(lines)


def reference(cls: type, title: str) -> str:
    """The defaults and help of every key of `cls`, as a Markdown table (docs/configuration.md)."""
    rows = [f"## {title}", "", "| key | default | what it is |", "|---|---|---|"]
    for entry in entries(cls()):
        default = "" if entry.section else f"`{_inline(entry.value)}`"
        key = f"**`{entry.key}`**" if entry.section else f"`{entry.key}`"
        rows.append(f"| {key} | {default} | {entry.help.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def _inline(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip().replace("|", "\\|")


def document() -> str:
    """docs/configuration.md: the reference of each command's config."""
    from factory.config import EvalConfig, RunConfig, SFTRunConfig

    return "\n\n".join(
        [
            "# Configuration reference\n\nEvery key of each command's YAML config, its default and what it "
            "means; any key can be set from the command line with `--set key=value`. Made by "
            "`factory config reference > docs/configuration.md` from the help beside each field in "
            "factory/config.py (tests/test_config_help.py checks it is current). "
            "`factory config show CONFIG` prints a config resolved, with the same help.",
            reference(RunConfig, "`factory run`"),
            reference(SFTRunConfig, "`factory sft`"),
            reference(EvalConfig, "`factory eval`"),
        ]
    )
