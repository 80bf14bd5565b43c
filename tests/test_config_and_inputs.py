"""Config validation, problem readers and prompt templates, through the library and the CLI."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.config import ProblemsConfig, RunConfig, load_config
from factory.errors import FactoryError
from factory.problems import derive_id, read_problems
from factory.prompts import load_template


def write_config(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def run_cli(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    return result.exit_code, result.output


# --- config ---------------------------------------------------------------------------------------------


def test_unknown_key_names_file_line_and_valid_keys(tmp_path):
    path = write_config(tmp_path, "run_dir: x\nsampling:\n  n: 2\n  temprature: 0.5\n")
    code, output = run_cli("run", path)
    assert code == 1
    assert output.startswith(f"error: {path}:4: sampling.temprature is not a known key")
    assert "temperature" in output  # the valid keys are listed
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_unknown_top_level_key(tmp_path):
    path = write_config(tmp_path, "problms: {}\n")
    code, output = run_cli("run", path)
    assert code == 1 and f"{path}:1: problms is not a known key" in output


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("sampling: {top_p: 3}\n", "sampling.top_p must be in (0, 1], got 3.0"),
        ("sampling: {n: two}\n", "sampling.n must be an integer, got 'two'"),
        ("sampling: {n: 0}\n", "sampling.n must be >= 1, got 0"),
        ("teacher: {backend: ollama}\n", "teacher.backend must be one of vllm, http, ray; got 'ollama'"),
        ("teacher: {backend: http}\n", "teacher.base_url is required when backend is http"),
        ("teacher: {enforce_eager: maybe}\n", "teacher.enforce_eager must be true or false"),
        ("reject: {answer_patterns: ['(unclosed']}\n", "reject.answer_patterns[0] is not a valid regex"),
        ("reject: {judge: {model: m}}\n", "reject.judge.base_url is required for the judge"),
        ("reject: {judge: {base_url: 'http://h:8000/v1'}}\n", "reject.judge.model is required"),
        (
            "reject: {judge: {base_url: 'http://h/v1', model: m, max_retries: -1}}\n",
            "judge.max_retries must be >= 0",
        ),
        ("teacher: {base_url: 'localhost:8000/v1'}\n", "teacher.base_url must be an http(s) URL with a host"),
        (
            "teacher: {base_url: ['http://a/v1', 'http:///v1']}\n",
            "teacher.base_url[1] must be an http(s) URL",
        ),
        ("teacher: {base_url: 'http://h:port/v1'}\n", "teacher.base_url must be an http(s) URL"),
        (
            "reject: {judge: {base_url: 'ftp://h/v1', model: m}}\n",
            "reject.judge.base_url must be an http(s) URL",
        ),
        (
            "problems: {paths: [a.jsonl], on_error: skip}\n",
            "problems.on_error must be one of fail, quarantine",
        ),
        ("problems: {paths: []}\n", "problems.paths must list at least one"),
        (
            "curate: {filters: [nope]}\n",
            "curate.filters[0] unknown unit 'nope'; choose from truncated, format,",
        ),
        ("curate: {select: [{at_most: 0}]}\n", "curate.select[0].at_most k must be an integer >= 1, got 0"),
        ("curate: {select: [{pass_rate: {low: 0.8, high: 0.2}}]}\n", "low must be <= high, got low=0.8"),
        ("curate: {filters: [{repetition: {bogus: 1}}]}\n", "repetition.bogus is not a parameter; valid:"),
        ("curate: {filters: [truncated, truncated]}\n", "curate.filters lists 'truncated' twice"),
        ("curate: {filters: [truncated: 3]}\n", "curate.filters[0].truncated takes no parameters"),
        ("curate: {budget: 0}\n", "curate.budget must be >= 1, got 0"),
        ("reject: {majority: {min_share: 0}}\n", "reject.majority.min_share must be in (0, 1], got 0.0"),
        ("adaptive: {give_up_after: 0}\n", "adaptive.give_up_after must be >= 1, got 0"),
    ],
)
def test_bad_values_say_what_is_allowed(tmp_path, yaml_text, message):
    text = yaml_text if yaml_text.startswith("problems") else "problems: {paths: [a.jsonl]}\n" + yaml_text
    path = write_config(tmp_path, text)
    with pytest.raises(FactoryError) as error:
        load_config(RunConfig, path)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8000/v1", "https://api.example.com/v1", "http://[::1]:8000/v1", "http://gpu-3:8000"],
)
def test_base_urls_that_reach_a_server_are_accepted(tmp_path, base_url):
    path = write_config(tmp_path, f"problems: {{paths: [a.jsonl]}}\nteacher: {{base_url: '{base_url}'}}\n")
    assert load_config(RunConfig, path).teacher.base_url == [base_url]


def test_overrides_beat_the_file_and_defaults_fill_the_rest(tmp_path):
    path = write_config(tmp_path, "problems: {paths: [a.jsonl]}\nsampling: {n: 2, temperature: 0.3}\n")
    config = load_config(RunConfig, path, ["sampling.n=8", "teacher.window=16", "sampling.stop=['###']"])
    assert (config.sampling.n, config.sampling.temperature, config.sampling.stop) == (8, 0.3, ["###"])
    assert config.teacher.window == 16
    assert config.sampling.top_p == 0.95  # default


def test_bad_override_is_named(tmp_path):
    path = write_config(tmp_path, "problems: {paths: [a.jsonl]}\n")
    code, output = run_cli("run", path, "--set", "sampling.n=-1")
    assert code == 1 and "error: --set sampling.n: sampling.n must be >= 1, got -1" in output
    code, output = run_cli("run", path, "--set", "sampling.n")
    assert code == 1 and "expected KEY=VALUE" in output


def test_invalid_yaml_and_missing_file(tmp_path):
    path = write_config(tmp_path, "sampling: [unclosed\n")
    code, output = run_cli("run", path)
    assert code == 1 and output.startswith(f"error: {path}:") and "not valid YAML" in output
    code, output = run_cli("run", tmp_path / "missing.yaml")
    assert code == 1 and "cannot read config" in output


def test_shipped_configs_validate():
    from factory.config import SFTRunConfig

    for name in ("quickstart", "http", "ray"):
        load_config(RunConfig, f"configs/{name}.yaml")
    load_config(SFTRunConfig, "configs/sft.yaml")


def test_import_and_help_stay_light():
    import subprocess
    import sys

    code = (
        "import sys, factory, factory.cli, factory.job; from click.testing import CliRunner; "
        "CliRunner().invoke(factory.cli.main, ['--help']); "
        "print(sorted(m for m in ('vllm', 'torch', 'trl', 'transformers', 'sympy', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- problems -------------------------------------------------------------------------------------------


def problems_config(path, **fields):
    return ProblemsConfig(paths=[str(path)], **({"fields": fields["fields"]} if "fields" in fields else {}))


def test_jsonl_csv_parquet_read_the_same_rows(tmp_path):
    rows = [{"id": "a", "problem": "1+1?", "answer": "2"}, {"id": "b", "problem": "2+2?", "answer": 4}]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("id,problem,answer\na,1+1?,2\nb,2+2?,4\n")
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([{**row, "answer": str(row["answer"])} for row in rows]), parquet)
    for path in (jsonl, csv_path, parquet):
        problems = list(read_problems(problems_config(path)))
        assert [(p.id, p.problem, p.answer) for p in problems] == [("a", "1+1?", "2"), ("b", "2+2?", "4")]
    assert list(read_problems(problems_config(csv_path)))[1].source == f"{csv_path}:3"


def test_field_mapping_and_derived_ids(tmp_path):
    from factory.config import FieldsConfig

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"question": "What is  6*7?", "gold": "42", "level": 1}) + "\n")
    config = ProblemsConfig(
        paths=[str(path)], fields=FieldsConfig(id=None, problem="question", answer="gold")
    )
    (problem,) = read_problems(config)
    assert problem.id == derive_id("What is 6*7?")  # stable: whitespace-normalised text
    assert problem.id == "p-" + __import__("hashlib").sha256(b"What is 6*7?").hexdigest()[:16]
    assert problem.meta == {"level": 1}
    # With the default mapping, a file without an id column gets the same derived ids.
    path.write_text(json.dumps({"problem": "What is  6*7?", "answer": "42"}) + "\n")
    (problem,) = read_problems(ProblemsConfig(paths=[str(path)]))
    assert problem.id == derive_id("What is 6*7?")


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            ['{"id": "a", "problem": "x", "answer": "1"}', '{"id": "b", "problem": "y"}'],
            ":2: field 'answer' is missing",
        ),
        (['{"id": "a", "problem": "x", "answer": "1"}', "{not json"], ":2: not valid JSON"),
        (['{"id": "a", "problem": "", "answer": "1"}'], ":1: field 'problem' is empty"),
        (['{"id": "a", "problem": "x", "answer": [1]}'], ":1: field 'answer' must be text or a number"),
        (
            ['{"id": "a", "problem": "x", "answer": "1"}', '{"id": "a", "problem": "y", "answer": "2"}'],
            ":2: id 'a' already used",
        ),
        (["[1, 2]"], ":1: expected a JSON object"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, lines, message):
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, f"run_dir: {tmp_path / 'run'}\nproblems: {{paths: [{data}]}}\n")
    code, output = run_cli("run", config)
    assert code == 1
    assert output.startswith(f"error: {data}{message}"), output
    assert "Traceback" not in output


def test_a_gold_written_as_a_missing_value_is_voted_on_under_majority(tmp_path):
    """Null, blank and NaN (pandas' missing value, as a number or as text) are all "no gold": an error
    without `reject.majority`, a problem whose samples vote its gold with it."""
    data = tmp_path / "p.jsonl"
    golds = ["null", '""', "NaN", '"nan"']
    data.write_text(
        "".join(f'{{"id": "{i}", "problem": "x{i}", "answer": {gold}}}\n' for i, gold in enumerate(golds))
    )
    assert [p.answer for p in read_problems(problems_config(data), without_answer=True)] == [""] * len(golds)
    with pytest.raises(FactoryError, match=r"p.jsonl:1: field 'answer' is null"):
        list(read_problems(problems_config(data)))


def test_csv_row_with_extra_cells(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("id,problem,answer\na,x,1\nb,y,2,oops\n")
    with pytest.raises(FactoryError, match=r"bad.csv:3: the row has more cells"):
        list(read_problems(problems_config(data)))


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(FactoryError, match="does not exist"):
        list(read_problems(problems_config(tmp_path / "nope.jsonl")))
    odd = tmp_path / "p.txt"
    odd.write_text("x")
    with pytest.raises(FactoryError, match="set problems.format"):
        list(read_problems(problems_config(odd)))


def test_shipped_problem_sets_are_well_formed():
    config = ProblemsConfig(
        paths=["data/basic.jsonl", "data/arithmetic.jsonl", "data/word_problems.jsonl", "data/algebra.jsonl"]
    )
    problems = list(read_problems(config))
    assert len(problems) >= 300
    from filters.numbers import parse_number

    assert all(parse_number(p.answer) is not None for p in problems)  # every gold is an exact number


# --- prompts --------------------------------------------------------------------------------------------


def test_default_template_renders_system_and_user_and_keeps_braces():
    template = load_template("boxed_cot")
    messages = template.messages(r"Compute $\frac{6}{3}$.")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert r"\boxed{}" in messages[0]["content"]
    assert messages[1]["content"] == r"Compute $\frac{6}{3}$."
    assert r"Problem: Compute $\frac{6}{3}$." in template.completion_text(r"Compute $\frac{6}{3}$.")
    assert len(template.hash) == 16 and template.name == "boxed_cot"


def test_template_hash_follows_the_text(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("user: 'Q: {problem}'\n")
    first = load_template(str(path)).hash
    path.write_text("user: 'Question: {problem}'\n")
    assert load_template(str(path)).hash != first


def test_bad_templates(tmp_path):
    with pytest.raises(FactoryError, match="available in prompts/: answer_line, boxed_cot"):
        load_template("nonexistent")
    path = tmp_path / "t.yaml"
    path.write_text("user: 'no placeholder'\n")
    with pytest.raises(FactoryError, match=r"must contain the placeholder \{problem\}"):
        load_template(str(path))


def test_keys_in_a_base_url_are_written_nowhere(tmp_path):
    """A key pasted into a URL (user-info, a query value) reaches no file of the run: not its config
    snapshot, not the shards' factory-config.yaml or manifest."""
    from scripted_teacher import ScriptedTeacher, run_config

    from factory.records import Problem
    from factory.job import run

    user_key, query_key = "sk-user-" + "7" * 20, "sk-query-" + "8" * 20
    url = f"https://me:{user_key}@llm.example.com:8443/v1?api-version=2024-06-01&api-key={query_key}"
    problem = Problem(id="p1", problem="What is 2 + 2?", answer="4", source="t:1")
    config = run_config(
        tmp_path,
        [problem],
        {},
        teacher={"backend": "http", "base_url": [url], "model": "scripted-teacher"},
    )
    teacher = ScriptedTeacher({"p1": [("2 + 2 = 4, so the answer is $\\boxed{4}$.", "stop")] * 3})
    run(config, lambda line: None, start_teacher=lambda: teacher)
    files = [path for path in (tmp_path / "run").rglob("*") if path.is_file()]
    assert any(path.name == "factory-config.yaml" for path in files)
    for key in (user_key, query_key):
        assert [path for path in files if key.encode() in path.read_bytes()] == []
    written = (tmp_path / "run" / "config.yaml").read_text()
    assert "https://llm.example.com:8443/v1?api-version=REDACTED&api-key=REDACTED" in written
