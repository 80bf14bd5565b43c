"""Inputs that took memory or time without end, or echoed a key (issue 22), each refused in one `error:` line:
a Parquet file of a few KB whose columns decode to gigabytes, Parquet values Python or JSON cannot hold, a
YAML config of aliases of aliases, counts past any real use, a `--set` value that is not YAML, and a key
pasted where its variable's name belongs.

The bombs run in a child process, whose peak memory (`ru_maxrss`, written as it exits) is its own: each must
end within MAX_SECONDS and MAX_RSS_KB. The code before the fix took 1 GB on the dictionary bomb and 2.1 GB on
the nested one (then read it whole), grew to 1.4 GB in 20 s on the YAML one without ending, and read the
million copies of 1 KB as rows (its first error a repeated id, not the column).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import subprocess
import sys
import time
import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import factory.problems
from factory.cli import main
from factory.config import EvalConfig, ProblemsConfig, RunConfig, SFTRunConfig, load_config
from factory.errors import FactoryError
from factory.problems import read_problems

MAX_SECONDS = 15
MAX_RSS_KB = 500 * 1024
MEASURED = """
import atexit, resource, sys
atexit.register(lambda: open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
from factory.cli import main
main(sys.argv[2:], prog_name="factory")
"""


def run_measured(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int, float]:
    """`factory ARGS` in a child process: its result, its peak RSS in KB and its seconds."""
    rss = tmp_path / "rss"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, str(rss), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS,
    )
    return result, int(rss.read_text()), time.monotonic() - started


def run_config(tmp_path: Path, problems: Path) -> Path:
    """A run of `problems` whose teacher, should the problems be read after all, is a closed port (no engine)
    that ends the run at once."""
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {tmp_path}/run\nproblems: {{paths: [{problems}]}}\n"
        "teacher: {backend: http, base_url: 'http://127.0.0.1:9/v1', model: m, max_retries: 0}\n"
    )
    return config


def repeated(text: str, rows: int) -> pa.DictionaryArray:
    """`rows` copies of `text` as Parquet keeps them: once in the dictionary, and an index per row."""
    return pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array([text]))


def ids(rows: int) -> list[str]:
    return [f"p{row}" for row in range(rows)]


def dictionary_bomb(path: Path) -> tuple[str, int]:
    """100,000 rows of one 100 KB problem: 10 GB decoded from a file of 6 KB. The reader before the fix
    decoded 10,000 rows at a time: 1 GB at once."""
    rows = 100_000
    pq.write_table(pa.table({"problem": repeated("x" * 100_000, rows), "answer": repeated("1", rows)}), path)
    return "problem", 0


def repeated_1kb(path: Path) -> tuple[str, int]:
    """A million copies of a 1 KB string, in a file of some 100 KB: 1 GB decoded."""
    rows = 1_000_000
    pq.write_table(pa.table({"problem": repeated("x" * 1000, rows), "answer": ["1"] * rows}), path)
    return "problem", 0


def nested_bomb(path: Path) -> tuple[str, int]:
    """A column of lists, each of a thousand copies of a 1 KB hint, beside good problems: 1 GB decoded."""
    rows = 1000
    hint = pa.ListArray.from_arrays(pa.array([0, 1000], pa.int32()), repeated("h" * 1000, 1000))
    table = pa.table(
        {"id": ids(rows), "problem": ["1+1?"] * rows, "answer": ["2"] * rows, "hints": hint.take([0] * rows)}
    )
    pq.write_table(table, path)
    return "hints", 3


def too_large(path: Path, column: str, leaf: int) -> str:
    stored = pq.ParquetFile(path).metadata.row_group(0).column(leaf).total_compressed_size
    return (
        f"error: {path}: column {column!r} of row group 0 decodes to more than 268,435,456 bytes, from "
        f"{stored:,} in the file (a column may take 100x its size in the file, or 268,435,456 bytes); "
        "a value repeated row after row? Write the file without the column, or in smaller row groups"
    )


@pytest.mark.parametrize("bomb", [dictionary_bomb, repeated_1kb, nested_bomb], ids=lambda bomb: bomb.__name__)
def test_a_parquet_bomb_is_refused_in_bounded_memory_and_time(tmp_path, bomb):
    path = tmp_path / "bomb.parquet"
    column, leaf = bomb(path)
    assert path.stat().st_size < 200_000
    result, rss_kb, seconds = run_measured(tmp_path, "run", str(run_config(tmp_path, path)))
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [too_large(path, column, leaf)]
    assert rss_kb < MAX_RSS_KB and seconds < MAX_SECONDS, (rss_kb, seconds)


@pytest.mark.parametrize(
    "table, column",
    [
        # Text stored without a dictionary: the footer's decompressed size alone gives it away.
        (pa.table({"problem": ["y" * 1000] * 2000, "answer": ["1"] * 2000}), "problem"),
        # Numbers: 200,000 zeros, a few hundred bytes compressed, 8 bytes each decoded.
        (pa.table({"problem": pa.array([0] * 200_000, pa.int64())}), "problem"),
    ],
    ids=["plain_text", "numbers"],
)
def test_the_footer_refuses_a_column_before_any_value_is_decoded(tmp_path, monkeypatch, table, column):
    monkeypatch.setattr(factory.problems, "PARQUET_COLUMN_BYTES", 1 << 20)
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, use_dictionary=False, compression="zstd")
    stored = pq.ParquetFile(path).metadata.row_group(0).column(0).total_compressed_size
    assert stored * 100 < 1 << 20
    with pytest.raises(FactoryError) as error:
        next(read_problems(ProblemsConfig(paths=[str(path)])))
    assert str(error.value) == (
        f"{path}: column {column!r} of row group 0 decodes to more than 1,048,576 bytes, from {stored:,} in "
        "the file (a column may take 100x its size in the file, or 1,048,576 bytes); a value repeated row "
        "after row? Write the file without the column, or in smaller row groups"
    )


def test_real_parquet_files_read_whole(tmp_path):
    """A file written as pandas writes one (every column dictionary-encoded, falling back to plain values
    once the dictionary is full), in several row groups, with nested columns kept in `meta`."""
    rows = 30_000
    problems = [
        f"Problem {row}: what is {row} + {row}? " + "Show your work. " * (row % 50) for row in range(rows)
    ]
    table = pa.table(
        {
            "id": ids(rows),
            "problem": problems,
            "answer": [str(2 * row) for row in range(rows)],
            "source": ["synthetic"] * rows,
            "messages": [[{"role": "user", "content": problem}] for problem in problems],
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=10_000)
    read = list(read_problems(ProblemsConfig(paths=[str(path)])))
    assert [problem.id for problem in read] == ids(rows)
    assert read[12_345].source == f"{path}:row 12345"
    assert read[12_345].problem == problems[12_345].strip()
    assert read[12_345].meta == {
        "source": "synthetic",
        "messages": [{"role": "user", "content": problems[12_345]}],
    }


# --- Parquet values Python or JSON cannot hold ---------------------------------------------------------


def parquet_ids(path: Path, values: pa.Array) -> None:
    pq.write_table(pa.table({"id": values, "problem": ["1+1?", "2+2?"], "answer": ["2", "4"]}), path)


@pytest.mark.parametrize(
    "values, expected",
    [
        (pa.array([decimal.Decimal("1.50"), decimal.Decimal(12)], pa.decimal128(10, 2)), ["1.50", "12.00"]),
        (
            pa.array([datetime.datetime(2020, 1, 1), datetime.datetime(2021, 6, 1, 12)]),
            ["2020-01-01T00:00:00", "2021-06-01T12:00:00"],
        ),
        (pa.array([datetime.date(2020, 1, 1), datetime.date(2020, 1, 2)]), ["2020-01-01", "2020-01-02"]),
        (pa.array([b"a", "\u00e9".encode()], pa.binary()), ["a", "\u00e9"]),  # text written as bytes (Spark)
    ],
    ids=["decimal", "timestamp", "date", "binary"],
)
def test_parquet_ids_of_other_types_read_as_text(tmp_path, values, expected):
    path = tmp_path / "p.parquet"
    parquet_ids(path, values)
    assert [problem.id for problem in read_problems(ProblemsConfig(paths=[str(path)]))] == expected
    # `factory verify` writes each id into JSON, which took no bytes, Decimal or datetime: a traceback.
    pq.write_table(
        pa.table({"id": values, "answer": ["2", "4"], "response": ["\\boxed{2}", "\\boxed{5}"]}), path
    )
    result = CliRunner().invoke(main, ["verify", str(path), "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in (tmp_path / "p.verdicts.jsonl").read_text().splitlines()]
    assert [verdict["id"] for verdict in verdicts] == expected


@pytest.mark.parametrize(
    "values, error",
    [
        (
            pa.array([b"a", b"\xff"], pa.binary()),
            (
                "{path}:row 1: field 'id' holds bytes that are not UTF-8 text (byte 1 is 0xff); write text "
                "columns as UTF-8 strings"
            ),
        ),
        # Past year 9999: Python's datetime cannot hold it (it was a traceback).
        (
            pa.array([253_402_300_800 * 10**7, 1], pa.timestamp("us")),
            (
                "{path}:row 0: field 'id' holds a date or time out of the years 1 to 9999, which Python "
                "cannot read"
            ),
        ),
    ],
    ids=["binary_not_utf8", "timestamp_out_of_range"],
)
def test_parquet_values_python_cannot_read_are_one_line(tmp_path, values, error):
    path = tmp_path / "p.parquet"
    parquet_ids(path, values)
    result = CliRunner().invoke(main, ["run", str(run_config(tmp_path, path))], catch_exceptions=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == ["error: " + error.format(path=path)]


# --- YAML ------------------------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_in_bounded_memory_and_time(tmp_path):
    """Nine levels of nine aliases each: 800 bytes standing for 9^10 (3 billion) values, which the code
    before the fix walked for longer than MAX_SECONDS, growing."""
    lines = ["l0: &l0 {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1}"]
    lines += [
        f"l{level}: &l{level} {{" + ", ".join(f"{key}: *l{level - 1}" for key in "abcdefghi") + "}"
        for level in range(1, 10)
    ]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1024
    result, rss_kb, seconds = run_measured(tmp_path, "run", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        (
            f"error: {path}:2: an alias (*l0) repeats the value its anchor marks, and aliases of aliases "
            "grow a small file past any memory, so none is read; write the value out"
        )
    ]
    assert rss_kb < MAX_RSS_KB and seconds < MAX_SECONDS, (rss_kb, seconds)


@pytest.mark.parametrize(
    "text, error",
    [
        # A line of brackets overflowed Python's stack: a RecursionError's traceback.
        (
            "run_dir: x\nsampling: " + "[" * 400 + "]" * 400 + "\n",
            "{path}:2: YAML nested more than 64 levels deep",
        ),
        # One alias is small, but an alias is refused whatever it stands for.
        (
            "problems: &p {paths: [a.jsonl]}\nteacher: *p\n",
            (
                "{path}:2: an alias (*p) repeats the value its anchor marks, and aliases of aliases grow a "
                "small file past any memory, so none is read; write the value out"
            ),
        ),
    ],
    ids=["deep", "one_alias"],
)
def test_yaml_the_loader_refuses_is_one_line(tmp_path, text, error):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(FactoryError) as raised:
        load_config(RunConfig, path)
    assert str(raised.value) == error.format(path=path)


def test_an_anchor_without_an_alias_still_reads(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("problems: &p {paths: [a.jsonl]}\n")
    assert load_config(RunConfig, path).problems.paths == ["a.jsonl"]


# --- counts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section, error",
    [
        # It sent no request and grew without end, deaf to Ctrl-C and SIGTERM.
        ("sampling: {n: 100000000}", "sampling.n must be in [1, 1024], got 100000000"),
        ("sampling: {max_tokens: 100000000}", "sampling.max_tokens must be in [1, 1048576], got 100000000"),
        ("sampling: {seed: -1}", "sampling.seed must be >= 0, got -1"),
        ("teacher: {window: 10000000}", "teacher.window must be in [1, 4096], got 10000000"),
        ("teacher: {max_concurrency: 100000}", "teacher.max_concurrency must be in [1, 4096], got 100000"),
        ("teacher: {max_retries: 1000000}", "teacher.max_retries must be in [0, 100], got 1000000"),
        ("teacher: {max_model_len: 0}", "teacher.max_model_len must be >= 1, got 0"),
        (
            "teachers: [{ray: {replicas: 100000}}]",
            "teachers[0].ray.replicas must be in [1, 1024], got 100000",
        ),
        ("adaptive: {max_samples: 1000000}", "adaptive.max_samples must be in [1, 16384], got 1000000"),
        ("reject: {workers: 100000}", "reject.workers must be in [1, 1024], got 100000"),
        ("curate: {budget: 1099511627777}", "curate.budget must be in [1, 1099511627776], got 1099511627777"),
        (
            "package: {row_group_bytes: 10000000000}",
            "package.row_group_bytes must be in [1, 4294967296], got 10000000000",
        ),
        # A bool is not a count, though Python counts True as 1.
        ("sampling: {n: true}", "sampling.n must be an integer, got True"),
    ],
)
def test_counts_past_their_range_are_one_line(tmp_path, section, error):
    path = tmp_path / "run.yaml"
    path.write_text(f"problems: {{paths: [a.jsonl]}}\n{section}\n")
    with pytest.raises(FactoryError) as raised:
        load_config(RunConfig, path)
    assert str(raised.value) == f"{path}:2: {error}"


def test_eval_counts_are_bounded(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("problems: {paths: [a.jsonl]}\neval: {bootstrap: 100000000}\n")
    with pytest.raises(FactoryError) as raised:
        load_config(EvalConfig, path)
    assert str(raised.value) == f"{path}:2: eval.bootstrap must be in [100, 10000], got 100000000"


def test_the_largest_counts_allowed_load(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("problems: {paths: [a.jsonl]}\nsampling: {n: 1024, max_tokens: 1048576}\n")
    config = load_config(RunConfig, path)
    assert (config.sampling.n, config.sampling.max_tokens) == (1024, 1048576)


def test_every_whole_number_setting_has_a_range():
    """A count added later without a range would be unbounded again."""

    def int_fields(cls: type, prefix: str) -> typing.Iterator[tuple[str, dataclasses.Field]]:
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            hint = hints[field.name]
            args = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
            for arg in args:
                if dataclasses.is_dataclass(arg):
                    yield from int_fields(arg, f"{prefix}{field.name}.")
                elif arg is int or typing.get_args(arg) == (int,):
                    yield prefix + field.name, field
                elif any(dataclasses.is_dataclass(item) for item in typing.get_args(arg)):
                    yield from int_fields(typing.get_args(arg)[0], f"{prefix}{field.name}[].")

    counts = [
        (name, field) for cls in (RunConfig, EvalConfig, SFTRunConfig) for name, field in int_fields(cls, "")
    ]
    assert len(counts) > 20
    assert [name for name, field in counts if "range" not in field.metadata] == []


# --- --set -----------------------------------------------------------------------------------------------


def test_a_set_value_that_is_not_yaml_is_one_line(tmp_path):
    # Read as one raw string, this list of two regexes became one regex matching neither.
    config = run_config(tmp_path, tmp_path / "p.jsonl")
    override = 'reject.answer_patterns=["\\d+", "answer: (\\d+)"]'
    result = CliRunner().invoke(main, ["run", str(config), "--set", override], catch_exceptions=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        (
            "error: --set reject.answer_patterns: the value is not valid YAML (found unknown escape "
            "character 'd'); quote it, e.g. --set \"reject.answer_patterns='...'\" (in YAML's single quotes "
            "a backslash stays as it is), or each item of a list: ['...', '...']"
        )
    ]


def test_plain_set_values_still_read_as_strings(tmp_path):
    config = load_config(
        RunConfig,
        run_config(tmp_path, tmp_path / "p.jsonl"),
        ["run_dir=/tmp/x", "teacher.model=foo/bar", "reject.answer_patterns=['\\d+', 'answer: (\\d+)']"],
    )
    assert (config.run_dir, config.teacher.model) == ("/tmp/x", "foo/bar")
    assert config.reject.answer_patterns == ["\\d+", "answer: (\\d+)"]


# --- a key pasted where its variable's name belongs ------------------------------------------------------

KEY = "sk-proj-Zx8Qp2RmT4vLw9"
NOT_THE_KEY = (
    "api_key_env must be the NAME of an environment variable holding the key (e.g. OPENAI_API_KEY), "
    "not the key"
)


@pytest.mark.parametrize(
    "command, text, error",
    [
        ("run", f"teacher: {{api_key_env: {KEY}}}", "{path}:2: teacher."),
        ("run", f"teachers: [{{model: m}}, {{api_key_env: '{KEY} '}}]", "{path}:2: teachers[1]."),
        (
            "run",
            f"reject: {{judge: {{base_url: 'http://h/v1', model: m, api_key_env: {KEY}}}}}",
            "{path}:2: reject.judge.",
        ),
        ("eval", f"model: {{api_key_env: {KEY}}}", "{path}:2: model."),
        # Not a string at all: the type error must not show the value either.
        ("run", f"teacher: {{api_key_env: [{KEY}]}}", "{path}:2: teacher."),
        ("run", "", "--set teacher.api_key_env: teacher."),
    ],
    ids=["teacher", "teachers", "judge", "eval_model", "a_list", "set"],
)
def test_a_key_in_api_key_env_is_refused_without_showing_it(tmp_path, command, text, error):
    path = tmp_path / "config.yaml"
    folder = "eval_dir" if command == "eval" else "run_dir"
    path.write_text(f"{folder}: {tmp_path}/run\n{text}\nproblems: {{paths: [a.jsonl]}}\n")
    overrides = [] if text else ["--set", f"teacher.api_key_env={KEY}"]
    result = CliRunner().invoke(main, [command, str(path), *overrides], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["error: " + error.format(path=path) + NOT_THE_KEY]
    assert KEY not in result.stdout + result.stderr
    assert not (tmp_path / "run").exists()  # no config.yaml written with it
