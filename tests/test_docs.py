"""The README stays short and its set-up commands stay what CI runs; the docs' relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")  # http:, https:, mailto:, //host


def relative_links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file, anchors cut off; code blocks and spans are not links."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = CODE_SPAN.sub("code", text)
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    found = []
    for target in targets:
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        found.append(target.split("#", 1)[0])
    return found


def ci_test_commands() -> list[str]:
    """The pytest command lines .ci/run runs: the README's test command."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if re.match(r"\s*\S*python\S* -m pytest\b", line)]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 300, f"README.md has {len(lines)} lines; move reference text into docs/"


def test_readme_keeps_the_set_up_commands() -> None:
    readme = README.read_text(encoding="utf-8")
    commands = ci_test_commands()
    assert commands == [".venv/bin/python -m pytest -ra"], commands  # what .ci/run calls today
    assert "bash .ci/install" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert f"bash .ci/install && {command}\n" in readme, f"README.md lacks the test command .ci/run runs: {command}"
    assert "bash .ci/install && .venv/bin/factory run configs/quickstart.yaml\n" in readme


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = [target for target in relative_links(page) if target and not (page.parent / target).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to files that do not exist: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / target).resolve() for target in relative_links(README)}
    unlinked = [path.name for path in DOCS if path.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link to: {unlinked}"


def test_link_finder_sees_links_and_skips_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "[a](one.md#part) ![b](img/two.png) [c](https://example.com) [d](#here) [`e`](three.py)\n"
        "`[not](a-link.md)`\n```\n[not](either.md)\n```\n[ref]: four.md\n",
        encoding="utf-8",
    )
    assert sorted(relative_links(page)) == ["four.md", "img/two.png", "one.md", "three.py"]
