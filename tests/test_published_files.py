"""Nothing leaks, nothing garbles (issue 22, item 11/7): what factory prints shows control characters
instead of obeying them; the files a run publishes beside its shards name no folder of the author's machine;
the card's tables and command survive what a config puts in them; an unwritable shards folder and a damaged
run folder are one line, not a traceback; published files follow the umask; a folder of no rows is no
dataset of one."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from curation_script import PROBLEMS, SCRIPT
from scripted_teacher import ScriptedTeacher, run_config

from factory import config as config_module
from factory import terminal
from factory.card import card_text, portable_path, publishable
from factory.cli import _guarded, main
from factory.records import Problem
from factory.report import write_report
from factory.job import run

HOSTILE = "p\x1b]0;pwned\x07\x1b[2J"  # retitles the terminal (OSC 0), then clears it (CSI 2J)
HOSTILE_SHOWN = "p\\x1b]0;pwned\\x07\\x1b[2J"


def scripted_run(config):
    teacher = ScriptedTeacher(SCRIPT)
    return run(config, lambda line: None, start_teacher=lambda: teacher)


def benchmark(tmp_path: Path) -> Path:
    path = tmp_path / "evals" / "benchmark.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"question": "Name the capital of a country that does not exist."}) + "\n")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of the scripted teacher (6 problems, 3 draws each), its problems and evaluation set
    outside the working folder, as absolute paths."""
    folder = tmp_path_factory.mktemp("published")
    config = run_config(
        folder,
        PROBLEMS,
        {},
        curate={"decontaminate": {"sets": [{"path": str(benchmark(folder)), "field": "question"}]}},
    )
    scripted_run(config)
    return folder / "run"


# --- the terminal ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, shown",
    [
        # a problem id, as the HTTP teacher names a failed one
        (f"http: problem {HOSTILE} failed", f"http: problem {HOSTILE_SHOWN} failed"),
        # a server's error text: CR would overwrite the line, C1 CSI (0x9b) and DEL act as ESC [ and rub out
        ("server said: 500\rOK \x9b2J\x7f", "server said: 500\\x0dOK \\x9b2J\\x7f"),
        # a model's output: a right-to-left override reverses what follows it
        ("trace: abc\u202edcba", "trace: abc\\u202edcba"),
        # a line break where one is meant stays one
        ("first\nsecond", "first\nsecond"),
    ],
)
def test_a_line_on_the_terminal_shows_control_characters_instead_of_obeying_them(capsys, line, shown):
    terminal.echo(line)
    assert capsys.readouterr().err == shown + "\n"


def test_an_error_line_shows_control_characters_instead_of_obeying_them(tmp_path):
    folder = tmp_path / HOSTILE
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {tmp_path / HOSTILE_SHOWN}: no summary.json; run factory run CONFIG first\n"
    )


# --- paths in published files -----------------------------------------------------------------------------


def test_published_files_name_no_folder_of_the_machine_that_made_them(finished):
    shards = finished / "shards"
    config_copy = yaml.safe_load((shards / "factory-config.yaml").read_text())
    local = yaml.safe_load((finished / "config.yaml").read_text())
    # The local snapshot keeps the paths the run used; the published copy has them by name.
    assert local["problems"]["paths"] == [str(finished.parent / "problems.jsonl")]
    expected = json.loads(json.dumps(local))
    expected["run_dir"] = "run"
    expected["problems"]["paths"] = ["problems.jsonl"]
    expected["curate"]["decontaminate"]["sets"][0]["path"] = "benchmark.jsonl"
    assert config_copy == expected

    manifest = json.loads((shards / "manifest.json").read_text())
    assert manifest["config"] == expected
    assert [item["path"] for item in manifest["decontamination"]["sets"]] == ["benchmark.jsonl"]
    decontaminate = next(unit for unit in manifest["curation"] if unit["unit"] == "decontaminate")
    assert decontaminate["parameters"]["sets"][0]["path"] == "benchmark.jsonl"
    assert manifest["reproduce"] == "factory run run/shards/factory-config.yaml --set run_dir=run-reproduced"
    for name in ("manifest.json", "factory-config.yaml", "README.md"):
        text = (shards / name).read_text()
        assert str(finished.parent) not in text and "/tmp" not in text, name


def test_paths_inside_the_working_folder_stay_relative_to_it(tmp_path, monkeypatch):
    """As a user runs from a checkout: `data/...` and `runs/...` are published as written, so the reproduce
    command works from the same folder of another checkout."""
    monkeypatch.chdir(tmp_path)
    absolute = run_config(tmp_path / "data", PROBLEMS, {})
    config = dataclasses.replace(
        absolute,
        run_dir="runs/first",
        problems=dataclasses.replace(absolute.problems, paths=["data/problems.jsonl"]),
    )
    scripted_run(config)
    shards = tmp_path / "runs" / "first" / "shards"
    published = yaml.safe_load((shards / "factory-config.yaml").read_text())
    assert published == config_module.to_dict(config)
    manifest = json.loads((shards / "manifest.json").read_text())
    assert manifest["reproduce"] == (
        "factory run runs/first/shards/factory-config.yaml --set run_dir=runs/first-reproduced"
    )


def test_paths_are_published_relative_to_the_working_folder_or_by_name_and_nothing_else_changes(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    student = {"tokenizer": "/home/me/models/qwen", "chat_template": str(tmp_path / "chat" / "t.jinja")}
    assert publishable({"student": student, "sampling": {"stop": ["/end"]}}) == {
        "student": {"tokenizer": "qwen", "chat_template": "chat/t.jinja"},
        "sampling": {"stop": ["/end"]},  # not a path: as it is
    }
    assert portable_path("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert portable_path("../elsewhere/problems.jsonl") == "problems.jsonl"


# --- the card ---------------------------------------------------------------------------------------------


def test_a_bar_or_a_line_break_in_a_card_cell_stays_in_its_cell(finished):
    manifest = json.loads((finished / "shards" / "manifest.json").read_text())
    manifest["curation"].append(
        {
            "unit": "odd|unit",
            "stage": "trace filter",
            "parameters": {"pattern": "(yes|no)\nnext"},
            "dropped": {"odd|reason": 2},
        }
    )
    card = card_text(manifest, None)
    assert "| `odd\\|unit` | trace filter | pattern=(yes\\|no) next | odd\\|reason 2 |" in card.splitlines()


def test_the_reproduce_command_is_quoted_for_the_shell(tmp_path):
    config = run_config(tmp_path, PROBLEMS, {})
    config = dataclasses.replace(config, run_dir=str(tmp_path / "my run; $(touch pwned)"))
    scripted_run(config)
    shards = tmp_path / "my run; $(touch pwned)" / "shards"
    command = json.loads((shards / "manifest.json").read_text())["reproduce"]
    assert command == (
        "factory run 'my run; $(touch pwned)/shards/factory-config.yaml' "
        "--set 'run_dir=my run; $(touch pwned)-reproduced'"
    )
    assert shlex.split(command)[2:] == [
        "my run; $(touch pwned)/shards/factory-config.yaml",
        "--set",
        "run_dir=my run; $(touch pwned)-reproduced",
    ]
    assert f"```bash\n{command}\n```" in (shards / "README.md").read_text()


# --- one line, not a traceback ----------------------------------------------------------------------------


def one_error_line(capsys, work) -> str:
    """What the CLI prints when `work` stops: one `error:` line, and exit status 1."""
    with pytest.raises(SystemExit) as stopped:
        _guarded(work)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def in_the_way(shards: Path) -> None:
    """A file where the shards folder of a finished run was (a folder that is not a run folder yet is
    refused before anything is written to it)."""
    shutil.rmtree(shards)
    shards.write_text("not a folder")


def test_a_file_where_the_shards_folder_goes_is_one_line(tmp_path, capsys):
    config = run_config(tmp_path, PROBLEMS, {})
    scripted_run(config)
    shards = tmp_path / "run" / "shards"
    in_the_way(shards)
    line = one_error_line(capsys, lambda: scripted_run(config))
    prefix = f"error: cannot write {shards}/train-00000-"
    suffix = f".parquet: {shards} is a file, not a folder; move it away and run the same command again"
    assert line.startswith(prefix) and line.endswith(suffix), line


def test_a_file_where_the_shards_folder_goes_is_one_line_without_kept_rows(tmp_path, capsys):
    problem = Problem(id="p1", problem="What is 2 + 2?", answer="4", source="t:1")
    config = run_config(tmp_path, [problem], {})
    teacher = ScriptedTeacher({"p1": [("2 + 2 = 5, so $\\boxed{5}$.", "stop")] * 3})
    run(config, lambda line: None, start_teacher=lambda: teacher)
    shards = tmp_path / "run" / "shards"
    in_the_way(shards)
    line = one_error_line(capsys, lambda: run(config, lambda line: None, start_teacher=lambda: teacher))
    assert line == (
        f"error: cannot write {shards / 'manifest.json'}: {shards} is a file, not a folder; "
        "move it away and run the same command again"
    )


def test_a_folder_where_a_published_file_goes_is_one_line(tmp_path, capsys):
    config = run_config(tmp_path, PROBLEMS, {})
    scripted_run(config)
    card = tmp_path / "run" / "shards" / "README.md"
    card.unlink()
    (card / "in-the-way").mkdir(parents=True)
    assert one_error_line(capsys, lambda: scripted_run(config)) == (
        f"error: cannot write {card}: it is a folder; move it away and run the same command again"
    )


def damage_summary(run_dir: Path) -> None:
    (run_dir / "summary.json").write_text('{"problems": 6, "sam')


def retype_summary(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps(summary | {"dropped": {"verifier": "many"}}))


def garble_samples(run_dir: Path) -> None:
    with (run_dir / "samples" / "part-00000.jsonl").open("ab") as handle:
        handle.write(b'{"problem_id": "p1", "trace\xff\xfe"}\n')


def damage_shard(run_dir: Path) -> None:
    next((run_dir / "shards").glob("train-*.parquet")).write_text("PAR1 and then nothing")


SUMMARY_REMEDY = "run factory run CONFIG again to rewrite it"


@pytest.mark.parametrize(
    "damage, line",
    [
        # cut off mid-write (by hand: factory writes it whole)
        (
            damage_summary,
            "summary.json: not JSON (Unterminated string starting at, line 1); " + SUMMARY_REMEDY,
        ),
        # valid JSON, not what factory writes
        (
            retype_summary,
            'summary.json: dropped is not counts by name, then by reason or kind (got {"verifier": "many"}); '
            + SUMMARY_REMEDY,
        ),
        # bytes that are no text in a samples journal
        (
            garble_samples,
            (
                "samples/part-00000.jsonl:19: not a JSON line (not UTF-8); the file is damaged, delete it to "
                "generate its samples again"
            ),
        ),
    ],
)
def test_a_damaged_run_folder_is_one_report_line(finished, tmp_path, damage, line):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    damage(run_dir)
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 1
    assert result.output == f"error: {run_dir / line}\n"


def test_a_damaged_shard_is_one_report_line(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    damage_shard(run_dir)
    (shard,) = (run_dir / "shards").glob("train-*.parquet")
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {shard}: not a Parquet file with a sample_key column; delete {run_dir / 'shards'} and run "
        "factory run CONFIG again to write the shards again\n"
    )


def test_a_damaged_results_file_is_one_report_line(finished, tmp_path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "results.json").write_text('{"format": "factory-eval/1", "metrics": ["pass@1"]}')
    result = CliRunner().invoke(
        main, ["report", str(finished), str(eval_dir), "-o", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 1
    assert (
        result.output == f"error: {eval_dir / 'results.json'}: no metrics; run `factory eval CONFIG` again\n"
    )


def notes(page: str) -> list[str]:
    import html
    import re

    return [html.unescape(note) for note in re.findall(r'<p class="note">(.*?)</p>', page)]


def test_damaged_lines_of_a_figure_are_left_out_and_the_report_says_which(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    timeline = run_dir / "timeline.jsonl"
    points = len(timeline.read_text().splitlines())
    with timeline.open("ab") as handle:
        handle.write(b'garbage\n{"t": "soon", "samples": 1, "kept": 1}\n\xff\n{"t": 9')  # the last one torn
    stats = run_dir / "problem_stats.jsonl"
    problems = len(stats.read_text().splitlines())
    with stats.open("a") as handle:
        handle.write('{"problem_id": "p9"}\n')
    (run_dir / "config.yaml").unlink()  # the report never needed it

    page = write_report(run_dir, out=tmp_path / "report.html").read_text()
    found = notes(page)
    assert (
        f"from timeline.jsonl: one line per progress update; each invocation of the run counts from zero; "
        f"lines of timeline.jsonl left out as damaged: {points + 1}, {points + 2}, {points + 3} and 1 more"
    ) in found
    assert (
        f"6 problems from problem_stats.jsonl; lines of problem_stats.jsonl left out as damaged: {problems + 1}"
        in (found)
    )


# --- modes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_published_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        scripted_run(run_config(tmp_path, PROBLEMS, {}))
        report = write_report(tmp_path / "run")
    finally:
        os.umask(previous)
    run_dir = tmp_path / "run"
    published = [
        *(run_dir / "shards").glob("*"),
        run_dir / "summary.json",
        report,
    ]
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in published} == {
        path.name: oct(mode) for path in published
    }
    assert {path.name for path in published} >= {"README.md", "manifest.json", "factory-config.yaml"}


# --- a folder of no rows ----------------------------------------------------------------------------------


def test_a_folder_without_rows_loads_as_no_dataset_rather_than_its_manifest(tmp_path):
    from datasets import load_dataset
    from datasets.exceptions import DataFilesNotFoundError

    problem = Problem(id="p1", problem="What is 2 + 2?", answer="4", source="t:1")
    config = run_config(tmp_path, [problem], {})
    teacher = ScriptedTeacher({"p1": [("2 + 2 = 5, so $\\boxed{5}$.", "stop")] * 3})
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    assert summary.kept == 0 and summary.rejected_rows == 0
    shards = tmp_path / "run" / "shards"
    _, header, body = (shards / "README.md").read_text().split("---\n", 2)
    assert yaml.safe_load(header)["configs"] == [
        {"config_name": "train", "default": True, "data_files": [{"split": "train", "path": []}]}
    ]
    assert (
        "No trace was kept and no other config was asked for: this folder holds no rows, and `load_dataset` "
        "on it stops with `DataFilesNotFoundError`."
    ) in body.splitlines()
    with pytest.raises(DataFilesNotFoundError, match="^No \\(supported\\) data files found in "):
        load_dataset(str(shards))
