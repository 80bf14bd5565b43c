"""Inputs as datasets arrive (issue 23, item 2): folders `datasets` saves, Arrow files (stream and file
format), gzip-compressed JSONL, patterns, and Hugging Face datasets from the local datasets cache, read
offline; `problems.keep_columns` carries a dataset's own columns into the shards. Every input reads as the
same problems, rows stream rather than load whole, and every mistake is one line naming where and what to do.
"""

from __future__ import annotations

import gzip
import json
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scripted_teacher import TEACHER_MODEL, ScriptedTeacher

import factory.job
import factory.problems
from factory.cli import main
from factory.config import ProblemsConfig, RunConfig, build
from factory.errors import FactoryError
from factory.job import run
from factory.package import REJECTED_SCHEMA, SCHEMA
from factory.problems import read_problems

ROWS = [
    {"id": "p1", "problem": "What is 2 + 3?", "answer": "5", "level": "Level 1", "type": "Algebra", "n": 1},
    {
        "id": "p2",
        "problem": "What is 4 * 6?",
        "answer": "24",
        "level": "Level 2",
        "type": "Prealgebra",
        "n": 2,
    },
    {"id": "p3", "problem": "What is 9 - 7?", "answer": "2", "level": "Level 1", "type": "Algebra", "n": 3},
]


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- the ways a dataset arrives -------------------------------------------------------------------------


def saved_dataset(tmp_path: Path) -> str:
    from datasets import Dataset

    Dataset.from_list(ROWS).save_to_disk(tmp_path / "saved")
    return str(tmp_path / "saved")


def saved_dataset_dict(tmp_path: Path) -> str:
    from datasets import Dataset, DatasetDict

    splits = {"train": Dataset.from_list(ROWS), "test": Dataset.from_list(ROWS[:1])}
    DatasetDict(splits).save_to_disk(tmp_path / "saved")
    return f"{tmp_path / 'saved'}:train"


def jsonl_gz(tmp_path: Path) -> str:
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(ROWS).encode()))
    return str(path)


def arrow_stream(tmp_path: Path) -> str:
    table = pa.Table.from_pylist(ROWS)
    with pa.ipc.new_stream(tmp_path / "p.arrow", table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):  # two record batches: rows numbered over both
            writer.write_batch(batch)
    return str(tmp_path / "p.arrow")


def arrow_file(tmp_path: Path) -> str:
    table = pa.Table.from_pylist(ROWS)
    with pa.ipc.new_file(tmp_path / "p.arrow", table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    return str(tmp_path / "p.arrow")


def pattern(tmp_path: Path) -> str:
    # Named so that sorting, not the order of creation, puts the rows back in order.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "b.jsonl").write_text(jsonl(ROWS[2:]))
    (tmp_path / "data" / "a.jsonl").write_text(jsonl(ROWS[:2]))
    (tmp_path / "data" / "notes.txt").write_text("not matched")
    return str(tmp_path / "data" / "*.jsonl")


def cache_hub_dataset(cache: Path, repo_id: str, config: str, splits: dict[str, list[dict]]) -> None:
    """Write `repo_id` into the datasets cache `cache` as `load_dataset(repo_id, config)` with network
    leaves it (`<namespace>___<name>/<config>/<version>/<commit>/<name>-<split>.arrow` and its
    dataset_info.json), without network: a JSON builder named as the dataset prepares the files, then moves
    under the namespace."""
    from datasets.packaged_modules.json.json import Json

    namespace, name = repo_id.split("/")
    sources = {}
    for split, rows in splits.items():
        sources[split] = str(cache.parent / f"{name}-{split}.jsonl")
        Path(sources[split]).write_text(jsonl(rows))
    builder = Json(
        cache_dir=str(cache),
        dataset_name=name,
        config_name=config,
        config_id=config,
        data_files=sources,
        hash="0123456789abcdef",
    )
    builder.download_and_prepare()
    shutil.move(cache / name, cache / f"{namespace}___{name}")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """A datasets cache holding `org/math:main` (train and test), named by HF_DATASETS_CACHE; and no
    network: a connection a run tries is recorded (and refused) for the test to assert there was none."""
    cache = tmp_path / "hf-cache"
    cache_hub_dataset(cache, "org/math", "main", {"train": ROWS, "test": ROWS[:1]})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    tried: list[object] = []

    def refuse(*address):
        tried.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield cache
    assert tried == []


def hub(tmp_path: Path) -> str:
    return "hf:org/math:main:train"


INPUTS = {
    "save_to_disk": (saved_dataset, "{path}:row 1"),
    "save_to_disk_split": (saved_dataset_dict, "{path}:row 1"),  # path is `folder:train`
    "jsonl_gz": (jsonl_gz, "{path}:2"),
    "arrow_stream": (arrow_stream, "{path}:row 1"),
    "arrow_file": (arrow_file, "{path}:row 1"),
    "pattern": (pattern, "{tmp}/data/a.jsonl:2"),
    "hub_cache": (hub, "{path}:row 1"),
}


@pytest.mark.parametrize("kind", INPUTS)
def test_every_way_a_dataset_arrives_reads_as_the_same_problems(tmp_path, request, kind):
    if kind == "hub_cache":
        request.getfixturevalue("hub_cache")
    make, second_source = INPUTS[kind]
    path = make(tmp_path)
    config = ProblemsConfig(paths=[path], keep_columns=["level", "type"])
    problems = list(read_problems(config))
    assert [(p.id, p.problem, p.answer) for p in problems] == [
        (r["id"], r["problem"], r["answer"]) for r in ROWS
    ]
    assert problems[1].source == second_source.format(path=path, tmp=tmp_path)
    # The extra columns are the problem's, as from a JSONL file; the kept ones also in keep_columns' order.
    assert problems[1].meta == {
        "level": "Level 2",
        "type": "Prealgebra",
        "n": 2,
        factory.problems.KEPT_COLUMNS: {"level": "Level 2", "type": "Prealgebra"},
    }


def test_a_cached_hub_dataset_reads_each_split_and_restores_the_offline_flags(tmp_path, hub_cache):
    import datasets

    before = datasets.config.HF_HUB_OFFLINE
    test = list(read_problems(ProblemsConfig(paths=["hf:org/math:main:test"])))
    assert [problem.id for problem in test] == ["p1"]
    # Without a config, the one the cache holds.
    assert len(list(read_problems(ProblemsConfig(paths=["hf:org/math:train"])))) == 3
    assert datasets.config.HF_HUB_OFFLINE == before


# --- whole runs keep the dataset's columns in the shards ---------------------------------------------------


def worked(answer: str) -> tuple[str, str]:
    """A draw long enough to count as reasoning, ending in `answer`."""
    return (
        f"We work it out step by step, one operation at a time.\nSo the answer is $\\boxed{{{answer}}}$.",
        "stop",
    )


def scripted_run(tmp_path: Path, paths: list[str], **problems: object):
    """A run of `paths` on the scripted teacher: draws 0 and 1 right, draw 2 wrong; rejected rows too."""
    script = {row["id"]: [worked(row["answer"]), worked(row["answer"]), worked("0")] for row in ROWS}
    teacher = ScriptedTeacher(script)
    config = build(
        RunConfig,
        {
            "run_dir": str(tmp_path / "run"),
            "problems": {"paths": paths, **problems},
            "teacher": {"model": TEACHER_MODEL},
            "sampling": {"n": 3},
            "package": {"rejected": True},
        },
    )
    return run(config, lambda line: None, start_teacher=lambda: teacher)


def shard_table(run_dir: Path, config: str) -> pa.Table:
    return pa.concat_tables(
        pq.read_table(path) for path in sorted((run_dir / "shards").glob(f"{config}-*.parquet"))
    )


@pytest.mark.parametrize("make", [saved_dataset, jsonl_gz], ids=["save_to_disk", "jsonl_gz"])
def test_a_run_keeps_two_of_the_datasets_columns_in_every_shard_row(tmp_path, make):
    from datasets import load_dataset

    summary = scripted_run(tmp_path, [make(tmp_path)], keep_columns=["type", "level"])
    assert summary.kept == 6
    train = shard_table(tmp_path / "run", "train")
    # After the factory's own columns, in the order asked for.
    assert train.column_names == [*SCHEMA.names, "type", "level"]
    by_problem = {row["problem_id"]: (row["level"], row["type"]) for row in train.to_pylist()}
    assert by_problem == {row["id"]: (row["level"], row["type"]) for row in ROWS}
    rejected = shard_table(tmp_path / "run", "rejected")
    assert rejected.column_names[-5:] == ["type", "level", "drop_unit", "drop_reason", "drop_detail"]
    assert set(rejected.column("level").to_pylist()) == {"Level 1", "Level 2"}
    # The published folder loads as it is, the columns with it.
    assert list(load_dataset(str(tmp_path / "run" / "shards"))["train"]["level"]).count("Level 1") == 4


def test_a_cached_hub_dataset_runs_offline(tmp_path, hub_cache):
    summary = scripted_run(tmp_path, ["hf:org/math:main:train"], keep_columns=["n"])
    assert summary.kept == 6
    assert shard_table(tmp_path / "run", "train").schema.field("n").type == pa.int64()


def test_without_kept_columns_the_shards_have_the_schema_they_always_had(tmp_path):
    (tmp_path / "p.jsonl").write_text(jsonl(ROWS))
    scripted_run(tmp_path, [str(tmp_path / "p.jsonl")])
    assert shard_table(tmp_path / "run", "train").schema.equals(SCHEMA)
    assert shard_table(tmp_path / "run", "rejected").schema.equals(REJECTED_SCHEMA)


def test_a_kept_column_of_ints_and_floats_is_a_float_column_and_a_change_renames_the_shards(tmp_path):
    rows = [{**row, "score": value} for row, value in zip(ROWS, [1, 2.5, None])]
    path = tmp_path / "p.jsonl"
    path.write_text(jsonl(rows))
    scripted_run(tmp_path, [str(path)], keep_columns=["score"])
    shards = tmp_path / "run" / "shards"
    first = sorted(file.name for file in shards.glob("train-*.parquet"))
    train = shard_table(tmp_path / "run", "train")
    assert train.schema.field("score").type == pa.float64()
    assert {row["problem_id"]: row["score"] for row in train.to_pylist()} == {
        "p1": 1.0,
        "p2": 2.5,
        "p3": None,
    }
    # Only a kept value changed: the rows change, so the files' names do (`datasets` caches by name).
    path.write_text(jsonl([{**row, "score": 7} for row in rows]))
    scripted_run(tmp_path, [str(path)], keep_columns=["score"])
    assert sorted(file.name for file in shards.glob("train-*.parquet")) != first
    assert set(shard_table(tmp_path / "run", "train").column("score").to_pylist()) == {7}


def test_keeping_another_column_packages_again_the_samples_a_folder_has(tmp_path):
    (tmp_path / "p.jsonl").write_text(jsonl(ROWS))
    scripted_run(tmp_path, [str(tmp_path / "p.jsonl")])
    summary = scripted_run(tmp_path, [str(tmp_path / "p.jsonl")], keep_columns=["level"])
    assert summary.generated_now == 0
    assert "level" in shard_table(tmp_path / "run", "train").column_names


# --- streams: rows come before the end of the input is read ------------------------------------------------


def test_rows_stream_from_an_arrow_stream_and_a_gzip_file_before_a_damaged_end(tmp_path):
    # A download cut in half: the first record batch (and gzip block) reads before the damage is met.
    rows = [{**row, "id": f"{row['id']}-{copy}"} for copy in range(2000) for row in ROWS]
    table = pa.Table.from_pylist(rows)
    stream = pa.BufferOutputStream()
    with pa.ipc.new_stream(stream, table.schema) as writer:
        writer.write_table(table, max_chunksize=1000)
    for name, data in [
        ("p.arrow", stream.getvalue().to_pybytes()),
        ("p.jsonl.gz", gzip.compress(jsonl(rows).encode())),
    ]:
        (tmp_path / name).write_bytes(data[: len(data) // 2])
    for name, error in [("p.arrow", "not a readable Arrow file"), ("p.jsonl.gz", "not a readable gzip file")]:
        problems = read_problems(ProblemsConfig(paths=[str(tmp_path / name)]))
        assert next(problems).id == "p1-0"
        with pytest.raises(FactoryError, match=f"^{tmp_path / name}: {error}"):
            list(problems)


# --- every mistake is one line ----------------------------------------------------------------------------


def dictionary_bomb(tmp_path: Path) -> None:
    # 2,000 rows of one 1 KB text, stored once in the dictionary: 2 MB decoded from some 9 KB read.
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 2000, pa.int32()), pa.array(["y" * 1000]))
    table = pa.table({"problem": column, "answer": ["1"] * 2000})
    with pa.ipc.new_file(tmp_path / "p.arrow", table.schema) as writer:
        writer.write_table(table)


@dataclass
class Case:
    kind: str
    problems: dict  # the config's problems section; {tmp} is the test's folder
    error: str  # how the one error line begins, after "error: "
    files: dict[str, str | bytes] | Callable[[Path], object] = field(default_factory=dict)


CASES = [
    Case(
        "pattern_matches_nothing",
        {"paths": ["{tmp}/data/*.jsonl"]},
        "problems.paths: {tmp}/data/*.jsonl matches no file; check the pattern",
    ),
    # A DatasetDict's folder is several datasets: which one is the user's to say.
    Case(
        "dataset_dict_without_split",
        {"paths": ["{tmp}/saved"]},
        "{tmp}/saved holds the splits train, test (a DatasetDict); name one after a colon: {tmp}/saved:train",
        saved_dataset_dict,
    ),
    Case(
        "unknown_split",
        {"paths": ["{tmp}/saved:validation"]},
        "{tmp}/saved: no split 'validation'; it holds train, test",
        saved_dataset_dict,
    ),
    Case(
        "split_of_a_dataset",
        {"paths": ["{tmp}/saved:train"]},
        "{tmp}/saved:train: {tmp}/saved holds one dataset, not splits (it has no dataset_dict.json); name the "
        "folder without a split",
        saved_dataset,
    ),
    # The message a plain folder always had, and what else it may be.
    Case(
        "folder_not_saved_by_datasets",
        {"paths": ["{tmp}/saved"]},
        "{tmp}/saved is a directory; name a JSONL, CSV or Parquet file, or a folder `datasets` saved with "
        "save_to_disk",
        {"saved/x.txt": "x"},
    ),
    Case(
        "damaged_state_json",
        {"paths": ["{tmp}/saved"]},
        "{tmp}/saved/state.json: not a file `datasets` writes",
        {"saved/state.json": "{"},
    ),
    Case(
        "hub_entry_without_split",
        {"paths": ["hf:org/math"]},
        "problems.paths: hf:org/math: write a Hugging Face dataset as hf:ID:SPLIT or hf:ID:CONFIG:SPLIT, "
        "e.g. hf:openai/gsm8k:main:train",
    ),
    Case(
        "hub_split_sliced",
        {"paths": ["hf:org/math:main:train[:2]"]},
        "problems.paths: hf:org/math:main:train[:2]: a split is read whole, not sliced; set "
        "problems.limit_per_file to read its first rows",
    ),
    # Never the network: what to run where there is one.
    Case(
        "hub_dataset_not_cached",
        {"paths": ["hf:org/other:main:train"]},
        "hf:org/other:main:train: not in the datasets cache ({tmp}/hf-cache); cache it on a machine with "
        "network: python -c \"from datasets import load_dataset; load_dataset('org/other', 'main', "
        "split='train')\", then copy the cache (HF_DATASETS_CACHE, or ~/.cache/huggingface/datasets) here",
    ),
    Case(
        "hub_config_not_cached",
        {"paths": ["hf:org/math:socratic:train"]},
        "hf:org/math:socratic:train: cannot be read from the datasets cache (Couldn't find cache for org/math "
        "for config 'socratic' Available configs in the cache: ['main']); cache it",
    ),
    Case(
        "hub_split_not_cached",
        {"paths": ["hf:org/math:main:validation"]},
        'hf:org/math:main:validation: cannot be read from the datasets cache (Unknown split "validation". '
        "Should be one of ['train', 'test'].); cache it",
    ),
    # A download cut short.
    Case(
        "gzip_truncated",
        {"paths": ["{tmp}/p.jsonl.gz"]},
        "{tmp}/p.jsonl.gz: not a readable gzip file (Compressed file ended before the end-of-stream marker "
        "was reached); compress it again",
        {"p.jsonl.gz": gzip.compress(jsonl(ROWS).encode())[:-9]},
    ),
    Case(
        "gzip_not_gzip",
        {"paths": ["{tmp}/p.jsonl.gz"]},
        "{tmp}/p.jsonl.gz: not a readable gzip file (Not a gzipped file (b'{\"'))",
        {"p.jsonl.gz": jsonl(ROWS)},
    ),
    # The line is counted in the decompressed text.
    Case(
        "gzip_not_utf8",
        {"paths": ["{tmp}/p.jsonl.gz"]},
        "{tmp}/p.jsonl.gz:2: not UTF-8 (byte 17 of the line is 0xe9); save the file as UTF-8 before "
        "compressing it",
        {"p.jsonl.gz": gzip.compress(jsonl(ROWS[:1]).encode() + b'{"problem": "caf\xe9"}\n')},
    ),
    Case(
        "gzip_parquet",
        {"paths": ["{tmp}/p.parquet.gz"]},
        "{tmp}/p.parquet.gz: a gzip-compressed parquet file is not read; decompress it (gunzip) first",
        {"p.parquet.gz": b"x"},
    ),
    Case(
        "gzip_unknown_inside",
        {"paths": ["{tmp}/p.gz"]},
        "{tmp}/p.gz: cannot tell the format from the suffix '.gz'; set problems.format to jsonl, csv or "
        "parquet, or to arrow for an Arrow file",
        {"p.gz": b"x"},
    ),
    Case(
        "arrow_not_arrow",
        {"paths": ["{tmp}/p.arrow"]},
        "{tmp}/p.arrow: not a readable Arrow file (",
        {"p.arrow": jsonl(ROWS)},
    ),
    Case(
        "arrow_empty",
        {"paths": ["{tmp}/p.arrow"]},
        "{tmp}/p.arrow: not a readable Arrow file (",
        {"p.arrow": b""},
    ),
    # Refused before a value is decoded, as a Parquet row group is (the limit is 1 MiB here).
    Case(
        "arrow_dictionary_bomb",
        {"paths": ["{tmp}/p.arrow"]},
        "{tmp}/p.arrow: column 'problem' of the record batch from row 0 decodes to more than 1,048,576 bytes",
        dictionary_bomb,
    ),
    # An unknown column names the columns present.
    Case(
        "kept_column_missing",
        {"paths": ["{tmp}/p.jsonl"], "keep_columns": ["level", "subject"]},
        "{tmp}/p.jsonl:1: field 'subject' is missing (columns present: id, problem, answer, level, type, n); "
        "drop it from problems.keep_columns, or add it to the row",
        {"p.jsonl": jsonl(ROWS)},
    ),
    Case(
        "kept_column_missing_in_dataset",
        {"paths": ["{tmp}/saved"], "keep_columns": ["subject"]},
        "{tmp}/saved:row 0: field 'subject' is missing (columns present: id, problem, answer, level, type, n)",
        saved_dataset,
    ),
    Case(
        "kept_column_mapped",
        {"paths": ["p.jsonl"], "keep_columns": ["answer"]},
        "{tmp}/run.yaml:1: problems.keep_columns names 'answer', problems.fields.answer: a shard row carries it "
        "already",
    ),
    Case(
        "kept_column_twice",
        {"paths": ["p.jsonl"], "keep_columns": ["level", "level"]},
        "{tmp}/run.yaml:1: problems.keep_columns names 'level' twice",
    ),
    # Found when the shards are made: a column may not stand in for one of the factory's.
    Case(
        "kept_column_a_shard_column",
        {"paths": ["{tmp}/p.jsonl"], "keep_columns": ["trace"]},
        "problems.keep_columns: 'trace' is a column the shards have already; a column of that name cannot be "
        "kept (rename it in the input)",
        {"p.jsonl": jsonl([{**row, "trace": "t"} for row in ROWS])},
    ),
    Case(
        "kept_column_of_two_types",
        {"paths": ["{tmp}/p.jsonl"], "keep_columns": ["level"]},
        "problems.keep_columns: column 'level' holds values that no one type holds (",
        {"p.jsonl": jsonl([{**row, "level": value} for row, value in zip(ROWS, [1, "one", 2])])},
    ),
    Case(
        "format_unknown",
        {"paths": ["p.jsonl"], "format": "feather"},
        "{tmp}/run.yaml:1: problems.format must be one of auto, jsonl, csv, parquet, arrow; got 'feather'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_each_mistake_is_one_error_line(tmp_path, monkeypatch, request, case):
    monkeypatch.setattr(factory.problems, "PARQUET_COLUMN_BYTES", 1 << 20)
    if case.kind.startswith("hub"):
        request.getfixturevalue("hub_cache")
    if callable(case.files):
        case.files(tmp_path)
    else:
        for name, content in case.files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                (tmp_path / name).write_bytes(content)
            else:
                (tmp_path / name).write_text(content)
    section = json.loads(json.dumps(case.problems).replace("{tmp}", str(tmp_path)))
    config = {"run_dir": str(tmp_path / "run"), "problems": section, "teacher": {"model": TEACHER_MODEL}}
    (tmp_path / "run.yaml").write_text(json.dumps(config))
    script = {row["id"]: [worked(row["answer"])] * 4 for row in ROWS}
    monkeypatch.setattr(factory.job, "make_teacher", lambda *args: ScriptedTeacher(script))
    result = CliRunner().invoke(main, ["run", str(tmp_path / "run.yaml")], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    # Before the line, only the run's log when the mistake is met at packaging.
    *log, line = result.stderr.splitlines()
    assert not [earlier for earlier in log if earlier.startswith("error:")]
    assert line.startswith("error: " + case.error.replace("{tmp}", str(tmp_path))), line
