"""Bad input, one table row per kind, through the real CLI: each ends in exactly one `error:` line naming the
file (and the line and field where there is one) with what to do, or is read as it should be (a BOM, CRLF,
extra fields), or, under `problems.on_error: quarantine`, sets its row aside with the reason while the
other rows run. Never a traceback.

The CLI runs in-process (click's CliRunner, `catch_exceptions=False`) rather than as a subprocess: an
exception that escapes a command fails its row with the traceback, and a thread's traceback goes to the
captured stderr all the same; in-process, the runs that must succeed can lend the scripted teacher in place
of an engine, and seventy rows take seconds rather than minutes of interpreter starts.

`KINDS` lists the kinds tried, for the reliability suite to count.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scripted_teacher import TEACHER_MODEL, make_sample

import factory.job
from factory.cli import main

GOOD = [
    {"id": "a", "problem": "What is 1+1?", "answer": "2"},
    {"id": "b", "problem": "What is 2+3?", "answer": "5"},
]


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def parquet(columns: dict[str, list]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def repeated(text: str, rows: int) -> pa.DictionaryArray:
    """`rows` copies of `text`, stored once in the Parquet file's dictionary."""
    return pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array([text]))


GOOD_JSONL = jsonl(*GOOD)
GOOD_CSV = "id,problem,answer\na,What is 1+1?,2\nb,What is 2+3?,5\n"
RUN = "{tmp}/run.yaml"


def config(problems: str = "p.jsonl", more: str = "", teacher: str = "", quarantine: bool = False) -> str:
    """A run config of the scripted teacher; its lines: run_dir 1, problems 2, paths 3, (on_error 4),
    teacher, sampling, reject, then `more`."""
    return (
        "run_dir: {tmp}/run\n"
        "problems:\n"
        f"  paths: [{{tmp}}/{problems}]\n"
        + ("  on_error: quarantine\n" if quarantine else "")
        + f"teacher: {{model: {TEACHER_MODEL}{teacher}}}\n"
        "sampling: {n: 2}\n"
        "reject: {workers: 1}\n" + more
    )


def unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.jsonl"
    path.chmod(0)
    if os.geteuid() == 0:  # root reads it all the same: refuse it as the system refuses anyone else
        real_open = Path.open

        def refusing_open(self: Path, *args, **kwargs):
            if self == path:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refusing_open)


def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p.jsonl").mkdir()


@dataclass(frozen=True)
class Case:
    kind: str
    files: dict[str, str | bytes]  # name under tmp_path → content; "{tmp}" in text and `command` is tmp_path
    error: str | None  # how the one stderr line starts after "error: " (… is any text); None: it succeeds
    command: tuple[str, ...] = ("run", RUN)
    problems: int = 2  # the problems a run that succeeds counts
    quarantined: tuple[tuple[str, str], ...] = ()  # (where, reason's start) of each row set aside
    setup: Callable[[Path, pytest.MonkeyPatch], None] | None = field(default=None, compare=False)


LATIN1_ROW = '{"id": "c", "problem": "Combien font 2+2, café ?", "answer": "4"}\n'.encode("latin-1")
TEN_MB_ROW = '{"id": "c", "problem": "' + "x" * 10_000_000 + '", "answer": "1"}\n'

CASES = [
    # --- problems files: JSONL --------------------------------------------------------------------------
    # A truncated line (an export cut short) names its line.
    Case(
        "broken_json_line",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL + '{"id": "c", "problem": "x"\n'},
        "{tmp}/p.jsonl:3: not valid JSON (Expecting ',' delimiter at column 28)",
    ),
    # A JSON value that is not an object (an array on one line).
    Case(
        "json_array_line",
        {"run.yaml": config(), "p.jsonl": "[1, 2]\n"},
        "{tmp}/p.jsonl:1: expected a JSON object, got list; a JSON array? write one object per line",
    ),
    # A pretty-printed .json document is not JSONL: say so rather than "Expecting value".
    Case(
        "pretty_printed_json",
        {"run.yaml": config("p.json"), "p.json": json.dumps(GOOD, indent=2)},
        "{tmp}/p.json:1: not valid JSON (Expecting value at column …) (the file looks like one JSON document over "
        "many lines; write one object per line: JSONL)",
    ),
    # Nesting deep enough to exhaust the parser's recursion is a bad row, not a RecursionError.
    Case(
        "deeply_nested_json",
        {"run.yaml": config(), "p.jsonl": "[" * 100_000 + "]" * 100_000 + "\n"},
        "{tmp}/p.jsonl:1: not a row: JSON nested too deeply to read",
    ),
    # JSON keeps the last of two equal keys silently: which gold was meant?
    Case(
        "duplicate_json_key",
        {"run.yaml": config(), "p.jsonl": '{"id": "a", "problem": "x", "answer": "1", "answer": "2"}\n'},
        "{tmp}/p.jsonl:1: key 'answer' appears twice in the object; keep one",
    ),
    # A BOM (spreadsheet exports write one) is read, not taken for part of the first key.
    Case("bom_jsonl", {"run.yaml": config(), "p.jsonl": "\ufeff" + GOOD_JSONL}, None),
    # Windows line ends are read as line ends.
    Case("crlf_jsonl", {"run.yaml": config(), "p.jsonl": GOOD_JSONL.replace("\n", "\r\n")}, None),
    # A Latin-1 row (an old export) is one line naming the line, the byte and the fix: no UnicodeDecodeError.
    Case(
        "latin1_jsonl",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL.encode() + LATIN1_ROW},
        "{tmp}/p.jsonl:3: not UTF-8 (byte 46 of the line is 0xe9); save the file as UTF-8",
    ),
    # Excel's "Unicode text" is UTF-16.
    Case(
        "utf16_file",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL.encode("utf-16")},
        "{tmp}/p.jsonl: the file is UTF-16; save it as UTF-8",
    ),
    # An empty file used to "succeed" with 0 problems and exit 0.
    Case("empty_file", {"run.yaml": config(), "p.jsonl": ""}, "{tmp}/p.jsonl: the file holds no rows"),
    # Blank lines only is an empty file too.
    Case(
        "blank_lines_only",
        {"run.yaml": config(), "p.jsonl": "\n  \n\r\n"},
        "{tmp}/p.jsonl: the file holds no rows",
    ),
    # A 10 MB line is refused without being read whole.
    Case(
        "ten_mb_line",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL + TEN_MB_ROW},
        "{tmp}/p.jsonl:3: the line holds 10,000,042 characters, more than a row may (1,048,576)",
    ),
    # A row without the problem column names the columns it has.
    Case(
        "missing_problem_field",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL + jsonl({"id": "c", "answer": "1"})},
        "{tmp}/p.jsonl:3: field 'problem' is missing (columns present: id, answer); fix the row or map",
    ),
    # A row without a gold says how to run without one (reject.majority).
    Case(
        "missing_gold",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL + jsonl({"id": "c", "problem": "x"})},
        "{tmp}/p.jsonl:3: field 'answer' is missing (columns present: id, problem); fix the row or map the "
        "answer with problems.fields.answer, or set reject.majority",
    ),
    # Extra fields are kept (in `meta`), not an error.
    Case(
        "extra_fields",
        {
            "run.yaml": config(),
            "p.jsonl": jsonl(*({**row, "level": 3, "tags": ["x"], "src": {"a": 1}} for row in GOOD)),
        },
        None,
    ),
    # A field of the wrong type names the type it got.
    Case(
        "wrong_type_problem",
        {"run.yaml": config(), "p.jsonl": jsonl({"id": "a", "problem": True, "answer": "1"})},
        "{tmp}/p.jsonl:1: field 'problem' must be text or a number, got bool",
    ),
    # A nested object where text belongs.
    Case(
        "nested_object",
        {"run.yaml": config(), "p.jsonl": jsonl({"id": "a", "problem": {"text": "1+1?"}, "answer": "2"})},
        "{tmp}/p.jsonl:1: field 'problem' must be text or a number, got dict",
    ),
    # Blank problem text would ask the teacher about nothing.
    Case(
        "empty_problem_text",
        {"run.yaml": config(), "p.jsonl": jsonl({"id": "a", "problem": "   ", "answer": "1"})},
        "{tmp}/p.jsonl:1: field 'problem' is empty",
    ),
    # A null gold.
    Case(
        "null_gold",
        {"run.yaml": config(), "p.jsonl": jsonl({"id": "a", "problem": "x", "answer": None})},
        "{tmp}/p.jsonl:1: field 'answer' is null",
    ),
    # NaN (Python's json reads the literal) was accepted as a number.
    Case(
        "nan_gold",
        {"run.yaml": config(), "p.jsonl": '{"id": "a", "problem": "x", "answer": NaN}\n'},
        "{tmp}/p.jsonl:1: field 'answer' is NaN, how pandas writes a missing value",
    ),
    # "NaN" as text is a missing value written by pandas, not an answer.
    Case(
        "nan_gold_text",
        {"run.yaml": config(), "p.jsonl": jsonl({"id": "a", "problem": "x", "answer": "nan"})},
        "{tmp}/p.jsonl:1: field 'answer' is NaN, how pandas writes a missing value",
    ),
    # 1e999 reads as inf: the gold is lost.
    Case(
        "infinite_gold",
        {"run.yaml": config(), "p.jsonl": '{"id": "a", "problem": "x", "answer": 1e999}\n'},
        "{tmp}/p.jsonl:1: field 'answer' is infinite (a number too large for a float: write it as text)",
    ),
    # Two rows with one id would share their samples.
    Case(
        "duplicate_ids",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL + jsonl({"id": "a", "problem": "y", "answer": "3"})},
        "{tmp}/p.jsonl:3: id 'a' already used at {tmp}/p.jsonl:1; ids must be unique",
    ),
    # --- problems files: CSV ----------------------------------------------------------------------------
    Case("bom_csv", {"run.yaml": config("p.csv"), "p.csv": "\ufeff" + GOOD_CSV}, None),
    Case("crlf_csv", {"run.yaml": config("p.csv"), "p.csv": GOOD_CSV.replace("\n", "\r\n")}, None),
    Case(
        "latin1_csv",
        {
            "run.yaml": config("p.csv"),
            "p.csv": GOOD_CSV.encode() + "c,Combien font 2+2 café ?,4\n".encode("latin-1"),
        },
        "{tmp}/p.csv:4: not UTF-8 (byte 23 of the line is 0xe9); save the file as UTF-8",
    ),
    # A header and no row.
    Case(
        "csv_header_only",
        {"run.yaml": config("p.csv"), "p.csv": "id,problem,answer\n"},
        "{tmp}/p.csv: the file holds no rows",
    ),
    # Text after a closing quote: a quote inside a cell that was not doubled.
    Case(
        "csv_quote_error",
        {"run.yaml": config("p.csv"), "p.csv": GOOD_CSV + 'c,"What is "3"?",3\n'},
        "{tmp}/p.csv:4: not valid CSV (',' expected after '\"'); check its quotes",
    ),
    # A quote never closed used to swallow the rest of the file into one cell; the row it opens is named.
    Case(
        "csv_unclosed_quote",
        {"run.yaml": config("p.csv"), "p.csv": 'id,problem,answer\na,"What is 1+1?,2\nb,What is 2+3?,5\n'},
        "{tmp}/p.csv:2: not valid CSV (unexpected end of data); check its quotes",
    ),
    # An unquoted comma makes a cell too many.
    Case(
        "csv_extra_cells",
        {"run.yaml": config("p.csv"), "p.csv": GOOD_CSV + "c,What is 1,000 + 1?,1001\n"},
        "{tmp}/p.csv:4: the row has more cells (4) than the header has columns (3)",
    ),
    # A row cut short.
    Case(
        "csv_missing_cells",
        {"run.yaml": config("p.csv"), "p.csv": GOOD_CSV + "c,What is 3?\n"},
        "{tmp}/p.csv:4: the row has fewer cells (2) than the header has columns (3)",
    ),
    # Two columns of one name: which one is the problem?
    Case(
        "csv_repeated_column",
        {"run.yaml": config("p.csv"), "p.csv": "id,problem,problem,answer\na,x,y,1\n"},
        "{tmp}/p.csv:1: column 'problem' appears twice in the header; rename one",
    ),
    # A cell past the csv module's limit is a bad row, not a csv.Error traceback.
    Case(
        "csv_huge_cell",
        {"run.yaml": config("p.csv"), "p.csv": GOOD_CSV + "c," + "x" * 200_000 + ",1\n"},
        "{tmp}/p.csv:4: not valid CSV (field larger than field limit (131072))",
    ),
    # --- problems files: Parquet ------------------------------------------------------------------------
    # Columns under other names: the columns present are listed.
    Case(
        "parquet_wrong_schema",
        {"run.yaml": config("p.parquet"), "p.parquet": parquet({"question": ["1+1?"], "solution": ["2"]})},
        "{tmp}/p.parquet:row 0: field 'problem' is missing (columns present: question, solution)",
    ),
    # A float gold column with a missing value (NaN).
    Case(
        "parquet_nan_gold",
        {
            "run.yaml": config("p.parquet"),
            "p.parquet": parquet({"problem": ["1+1?", "2+2?"], "answer": [2.0, float("nan")]}),
        },
        "{tmp}/p.parquet:row 1: field 'answer' is NaN",
    ),
    # A Parquet file with a list where text belongs.
    Case(
        "parquet_list_column",
        {"run.yaml": config("p.parquet"), "p.parquet": parquet({"problem": [["1+1?"]], "answer": ["2"]})},
        "{tmp}/p.parquet:row 0: field 'problem' must be text or a number, got list",
    ),
    Case(
        "not_parquet",
        {"run.yaml": config("p.parquet"), "p.parquet": GOOD_CSV},
        "{tmp}/p.parquet: not a readable Parquet file",
    ),
    # 10 GB of one repeated 100 KB problem in a file of a few KB: it took 1 to 2.4 GB before its first row.
    Case(
        "parquet_bomb",
        {
            "run.yaml": config("p.parquet"),
            "p.parquet": parquet(
                {"problem": repeated("x" * 100_000, 100_000), "answer": repeated("1", 100_000)}
            ),
        },
        "{tmp}/p.parquet: column 'problem' of row group 0 decodes to more than 268,435,456 bytes, from … in the "
        "file",
    ),
    # Bytes that are UTF-8 are read as text; others name the row (with JSON, `factory verify` had a traceback).
    Case(
        "parquet_binary_id",
        {
            "run.yaml": config("p.parquet"),
            "p.parquet": parquet({"id": [b"a", b"\xff"], "problem": ["1+1?", "2+3?"], "answer": ["2", "5"]}),
        },
        "{tmp}/p.parquet:row 1: field 'id' holds bytes that are not UTF-8 text (byte 1 is 0xff)",
    ),
    # Decimal ids are read as their text.
    Case(
        "parquet_decimal_id",
        {
            "run.yaml": config("p.parquet"),
            "p.parquet": parquet(
                {
                    "id": pa.array([1, 2], pa.decimal128(5, 0)),
                    "problem": ["1+1?", "2+3?"],
                    "answer": ["2", "5"],
                }
            ),
        },
        None,
    ),
    # --- problems files: the file itself ----------------------------------------------------------------
    # A directory used to be reported as "does not exist".
    Case(
        "directory",
        {"run.yaml": config()},
        "{tmp}/p.jsonl is a directory; name a JSONL, CSV or Parquet file",
        setup=directory,
    ),
    Case("missing_file", {"run.yaml": config()}, "{tmp}/p.jsonl does not exist"),
    # chmod 000 used to end in a PermissionError traceback.
    Case(
        "unreadable_file",
        {"run.yaml": config(), "p.jsonl": GOOD_JSONL},
        "{tmp}/p.jsonl: cannot read (Permission denied); check its permissions",
        setup=unreadable,
    ),
    Case(
        "unknown_suffix",
        {"run.yaml": config("p.txt"), "p.txt": GOOD_JSONL},
        "{tmp}/p.txt: cannot tell the format from the suffix '.txt'; set problems.format to jsonl, csv or parquet",
    ),
    # A config that names no problems file used to run 0 problems and exit 0.
    Case(
        "no_problems_files",
        {"run.yaml": "run_dir: {tmp}/run\n"},
        "problems.paths lists no file; name at least one JSONL, CSV or Parquet file",
    ),
    # --- configs ----------------------------------------------------------------------------------------
    # An empty config used to run 0 problems and exit 0.
    Case("empty_config", {"run.yaml": ""}, "{tmp}/run.yaml: the config is empty"),
    Case(
        "config_not_mapping",
        {"run.yaml": "- a\n- b\n"},
        "{tmp}/run.yaml: a config must be a mapping of keys to values, got list",
    ),
    Case(
        "config_invalid_yaml",
        {"run.yaml": "sampling: [unclosed\n"},
        "{tmp}/run.yaml:2: not valid YAML (expected ',' or ']'",
    ),
    # Tabs cannot indent YAML: say so.
    Case(
        "config_tab_indent",
        {"run.yaml": "sampling:\n\tn: 2\n"},
        "{tmp}/run.yaml:2: not valid YAML (found character '\\t' that cannot start any token); YAML indents "
        "with spaces, not tabs",
    ),
    # YAML keeps the last of two equal keys silently.
    Case(
        "config_duplicate_key",
        {"run.yaml": config(more="sampling: {n: 8}\n")},
        "{tmp}/run.yaml:7: sampling is given twice (first at line 5); keep one",
    ),
    Case(
        "config_unknown_key",
        {"run.yaml": config(more="adaptiv: {}\n")},
        "{tmp}/run.yaml:7: adaptiv is not a known key; valid keys here:",
    ),
    Case(
        "config_out_of_range",
        {"run.yaml": config(more="adaptive: {max_samples: 0}\n")},
        "{tmp}/run.yaml:7: adaptive.max_samples must be >= 1, got 0",
    ),
    Case(
        "config_wrong_type",
        {"run.yaml": config(more="package: {rejected: maybe}\n")},
        "{tmp}/run.yaml:7: package.rejected must be true or false, got 'maybe'",
    ),
    Case(
        "config_section_not_mapping",
        {"run.yaml": config(more="curate: 3\n")},
        "{tmp}/run.yaml:7: curate must be a mapping, got int",
    ),
    # A number as a key used to end in a TypeError while sorting the unknown keys.
    Case(
        "config_number_key",
        {"run.yaml": config(more="adaptive: {1: 2}\n")},
        "{tmp}/run.yaml:7: adaptive.1 is not a known key",
    ),
    Case(
        "config_latin1",
        {"run.yaml": config().encode() + "# café\n".encode("latin-1")},
        "{tmp}/run.yaml:7: not UTF-8 (byte 6 of the line is 0xe9); save the file as UTF-8",
    ),
    Case("config_bom", {"run.yaml": "\ufeff" + config(), "p.jsonl": GOOD_JSONL}, None),
    Case("config_missing", {}, "{tmp}/run.yaml: cannot read config (No such file or directory)"),
    # `base_url: not a url` used to hang for over a minute of retries.
    Case(
        "bad_base_url",
        {"run.yaml": config(teacher=", backend: http, base_url: not a url"), "p.jsonl": GOOD_JSONL},
        "{tmp}/run.yaml:4: teacher.base_url must be an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1; "
        "got 'not a url'",
    ),
    # A key pasted where the name of its variable belongs: refused, and not shown.
    Case(
        "api_key_pasted",
        {"run.yaml": config(teacher=", api_key_env: sk-proj-Zx8Qp2RmT4vLw9"), "p.jsonl": GOOD_JSONL},
        "{tmp}/run.yaml:4: teacher.api_key_env must be the NAME of an environment variable holding the key (e.g. "
        "OPENAI_API_KEY), not the key",
    ),
    # An alias: aliases of aliases make 1 KB stand for billions of values, walked without end.
    Case(
        "config_yaml_alias",
        {"run.yaml": config(more="adaptive: &a {max_samples: 8}\ncurate: *a\n")},
        "{tmp}/run.yaml:8: an alias (*a) repeats the value its anchor marks",
    ),
    Case(
        "set_without_value",
        {"run.yaml": config()},
        "--set sampling.n: expected KEY=VALUE, e.g. --set sampling.n=8",
        command=("run", RUN, "--set", "sampling.n"),
    ),
    Case(
        "set_unknown_key",
        {"run.yaml": config()},
        "--set sampling.nn: sampling.nn is not a known key",
        command=("run", RUN, "--set", "sampling.nn=2"),
    ),
    Case(
        "set_through_a_value",
        {"run.yaml": config()},
        "--set sampling.n.x: n is not a section",
        command=("run", RUN, "--set", "sampling.n.x=1"),
    ),
    Case(
        "set_out_of_range",
        {"run.yaml": config()},
        "--set sampling.top_p: sampling.top_p must be in (0, 1], got 3.0",
        command=("run", RUN, "--set", "sampling.top_p=3"),
    ),
    # It sent no request and grew without end, deaf to Ctrl-C.
    Case(
        "set_count_too_large",
        {"run.yaml": config()},
        "--set sampling.n: sampling.n must be in [1, 1024], got 100000000",
        command=("run", RUN, "--set", "sampling.n=100000000"),
    ),
    # Kept as one raw string, the list of two regexes was one regex matching neither.
    Case(
        "set_not_yaml",
        {"run.yaml": config()},
        "--set reject.answer_patterns: the value is not valid YAML (found unknown escape character 'd'); quote it",
        command=("run", RUN, "--set", 'reject.answer_patterns=["\\d+", "answer: (\\d+)"]'),
    ),
    Case(
        "on_error_unknown",
        {"run.yaml": config().replace("  paths:", "  on_error: skip\n  paths:")},
        "{tmp}/run.yaml:3: problems.on_error must be one of fail, quarantine; got 'skip'",
    ),
    # Prompt templates.
    Case(
        "unknown_template",
        {"run.yaml": config(more="prompt: {template: nope}\n"), "p.jsonl": GOOD_JSONL},
        "prompt.template: no template 'nope'",
    ),
    Case(
        "template_without_problem",
        {
            "run.yaml": config(more="prompt: {template: {tmp}/t.yaml}\n"),
            "p.jsonl": GOOD_JSONL,
            "t.yaml": "user: Solve it.\n",
        },
        "{tmp}/t.yaml: `user` must contain the placeholder {problem}",
    ),
    Case(
        "template_system_not_text",
        {
            "run.yaml": config(more="prompt: {template: {tmp}/t.yaml}\n"),
            "p.jsonl": GOOD_JSONL,
            "t.yaml": "system: [be brief]\nuser: 'Q: {problem}'\n",
        },
        "{tmp}/t.yaml: `system` must be a string, got list",
    ),
    # An eval on a set with rows left out would not compare with other evals.
    Case(
        "eval_quarantine",
        {"eval.yaml": "eval_dir: {tmp}/eval\nproblems:\n  paths: [{tmp}/p.jsonl]\n  on_error: quarantine\n"},
        "{tmp}/eval.yaml:4: problems.on_error must be fail for an evaluation",
        command=("eval", "{tmp}/eval.yaml"),
    ),
    # --- factory verify ---------------------------------------------------------------------------------
    Case(
        "verify_latin1",
        {
            "t.jsonl": jsonl({"answer": "2", "response": "\\boxed{2}"}).encode()
            + b'{"answer": "caf\xe9", "response": "x"}\n'
        },
        "{tmp}/t.jsonl:2: not UTF-8 (byte 16 of the line is 0xe9)",
        command=("verify", "{tmp}/t.jsonl", "--workers", "1"),
    ),
    Case(
        "verify_bom",
        {
            "t.jsonl": "\ufeff"
            + jsonl({"answer": "2", "response": "\\boxed{2}"}, {"answer": "5", "response": "\\boxed{5}"})
        },
        None,
        command=("verify", "{tmp}/t.jsonl", "--workers", "1"),
    ),
    Case(
        "verify_empty",
        {"t.csv": "answer,response\n"},
        "{tmp}/t.csv: the file holds no rows",
        command=("verify", "{tmp}/t.csv", "--workers", "1"),
    ),
    Case(
        "verify_nan_gold",
        {"t.jsonl": '{"answer": NaN, "response": "x"}\n'},
        "{tmp}/t.jsonl:1: field 'answer' is NaN",
        command=("verify", "{tmp}/t.jsonl", "--workers", "1"),
    ),
    # --- problems.on_error: quarantine ------------------------------------------------------------------
    # The bad row is set aside with its reason; the good rows run.
    Case(
        "quarantine_broken_json",
        {"run.yaml": config(quarantine=True), "p.jsonl": jsonl(GOOD[0]) + "{oops\n" + jsonl(GOOD[1])},
        None,
        quarantined=(("{tmp}/p.jsonl:2", "not valid JSON"),),
    ),
    Case(
        "quarantine_missing_gold",
        {"run.yaml": config(quarantine=True), "p.jsonl": GOOD_JSONL + jsonl({"id": "c", "problem": "x"})},
        None,
        quarantined=(("{tmp}/p.jsonl:3", "field 'answer' is missing"),),
    ),
    # The later of two rows with one id is set aside; the first keeps its samples.
    Case(
        "quarantine_duplicate_id",
        {
            "run.yaml": config(quarantine=True),
            "p.jsonl": GOOD_JSONL + jsonl({"id": "a", "problem": "y", "answer": "3"}),
        },
        None,
        quarantined=(("{tmp}/p.jsonl:3", "id 'a' already used at"),),
    ),
    Case(
        "quarantine_csv_quote_error",
        {
            "run.yaml": config("p.csv", quarantine=True),
            "p.csv": GOOD_CSV + 'c,"What is "3"?",3\nd,What is 9?,9\n',
        },
        None,
        problems=3,
        quarantined=(("{tmp}/p.csv:4", "not valid CSV"),),
    ),
    Case(
        "quarantine_nan_gold",
        {
            "run.yaml": config(quarantine=True),
            "p.jsonl": GOOD_JSONL + '{"id": "c", "problem": "x", "answer": NaN}\n',
        },
        None,
        quarantined=(("{tmp}/p.jsonl:3", "field 'answer' is NaN"),),
    ),
    # A file none of whose rows reads is a wrong file or mapping, not rows to set aside.
    Case(
        "quarantine_every_row_bad",
        {"run.yaml": config(quarantine=True), "p.jsonl": jsonl({"id": "a", "question": "x", "gold": "1"})},
        "{tmp}/p.jsonl: no row could be read, so the file is not quarantined row by row (the first: "
        "{tmp}/p.jsonl:1: field 'problem' is missing",
    ),
    # A wrong encoding is the whole file's: it stops the run under quarantine too.
    Case(
        "quarantine_not_utf8",
        {"run.yaml": config(quarantine=True), "p.jsonl": GOOD_JSONL.encode() + LATIN1_ROW},
        "{tmp}/p.jsonl:3: not UTF-8",
    ),
]
KINDS = [case.kind for case in CASES]


class EchoTeacher:
    """Answers every draw with a short worked solution ending in the problem's gold, at once: the runs that
    must succeed need samples that are kept, not an engine."""

    backend = "scripted"
    model = TEACHER_MODEL

    def stream(self, source, template, sampling):
        while (request := source.poll(block=True)) is not None:
            yield [
                make_sample(
                    request.problem,
                    index,
                    f"We work it out step by step, as draw {index} of this problem.\n"
                    f"So the answer is $\\boxed{{{request.problem.answer}}}$.",
                    "stop",
                    sampling,
                )
                for index in request.indices
            ]

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch):
    monkeypatch.setattr(factory.job, "make_teacher", lambda *args: EchoTeacher())


def invoke(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, content in case.files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    if case.setup is not None:
        case.setup(tmp_path, monkeypatch)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in case.command]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.reliability
@pytest.mark.parametrize("case", CASES, ids=KINDS)
def test_bad_input(case, tmp_path, monkeypatch):
    result = invoke(case, tmp_path, monkeypatch)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    if case.error is not None:
        assert result.exit_code == 1, output
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        expected = re.escape("error: " + case.error.replace("{tmp}", str(tmp_path))).replace("…", ".*")
        assert re.match(expected, line), line
        return
    assert result.exit_code == 0, output
    assert not [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if case.command[0] == "verify":
        assert "rows       2" in result.stdout
        return
    assert f"problems   {case.problems} ({case.problems} with at least one kept trace)" in result.stdout
    quarantine = tmp_path / "run" / "quarantine.jsonl"
    if not case.quarantined:
        assert not quarantine.exists()
        return
    lines = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [line["where"] for line in lines] == [
        where.replace("{tmp}", str(tmp_path)) for where, _ in case.quarantined
    ]
    assert all(line["reason"].startswith(reason) for line, (_, reason) in zip(lines, case.quarantined))
    assert all(line["row"] for line in lines)  # the row as the file holds it, to fix it there
    assert f"quarantine {len(lines)} rows set aside: {quarantine}" in result.stdout


def test_kinds_are_thirty_and_more_and_unique():
    assert len(set(KINDS)) == len(KINDS) >= 30


def test_a_rerun_rewrites_the_quarantine_file(tmp_path, monkeypatch):
    """A resumed run rewrites the quarantine whole: the same bad rows once, not once per invocation; once
    the row is fixed, the file goes."""
    (case,) = [case for case in CASES if case.kind == "quarantine_missing_gold"]
    quarantine = tmp_path / "run" / "quarantine.jsonl"
    for _ in range(2):
        assert invoke(case, tmp_path, monkeypatch).exit_code == 0
        assert len(quarantine.read_text().splitlines()) == 1
    (tmp_path / "p.jsonl").write_text(GOOD_JSONL + jsonl({"id": "c", "problem": "x", "answer": "7"}))
    result = CliRunner().invoke(main, ["run", str(tmp_path / "run.yaml")], catch_exceptions=False)
    assert result.exit_code == 0 and "problems   3" in result.stdout
    assert not quarantine.exists()
