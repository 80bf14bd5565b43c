"""`factory config show`, `init` and `reference`: every key has its help, read from beside its field, and
docs/configuration.md is what `factory config reference` prints today."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import config_help
from factory.cli import STARTERS, main
from factory.config import EvalConfig, RunConfig, SFTRunConfig

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("cls", [RunConfig, SFTRunConfig, EvalConfig])
def test_every_key_has_help(cls):
    assert [entry.key for entry in config_help.entries(cls()) if not entry.help] == []


def test_help_comes_from_beside_the_field():
    helps = config_help.field_help(RunConfig)
    assert helps["run_dir"].startswith("the run folder: new, empty or one a run made")
    teacher = config_help.field_help(type(RunConfig().teacher))
    # The full-line comments above a field, then the one at the end of its line.
    assert teacher["api_key_env"] == (
        "The NAME of the environment variable holding the API key (e.g. OPENAI_API_KEY), never the key itself."
    )
    assert teacher["max_concurrency"] == "requests in flight per base URL"


def test_show_prints_the_resolved_config_with_its_help(tmp_path):
    result = CliRunner().invoke(main, ["config", "show", "configs/quickstart.yaml", "--set", "sampling.n=9"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  n: 9  # draws per problem; raising it later adds draws to the same run folder" in lines
    assert "  template: answer_line  # a name under prompts/ or a path to a template file" in lines
    bad = CliRunner().invoke(main, ["config", "show", "configs/quickstart.yaml", "--set", "sampling.n=0"])
    assert (bad.exit_code, bad.output) == (1, "error: --set sampling.n: sampling.n must be >= 1, got 0\n")


def test_init_writes_a_starter_once(tmp_path):
    out = tmp_path / "mine.yaml"
    result = CliRunner().invoke(main, ["config", "init", "--teacher", "openai", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == (ROOT / "configs" / STARTERS["openai"]).read_text()
    again = CliRunner().invoke(main, ["config", "init", "--teacher", "openai", "-o", str(out)])
    assert (again.exit_code, again.output) == (1, f"error: {out} exists; name another file with -o\n")


def test_every_starter_exists():
    assert all((ROOT / "configs" / name).is_file() for name in STARTERS.values())


def test_the_reference_in_docs_is_current():
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == config_help.document() + "\n", "run: factory config reference > docs/configuration.md"
