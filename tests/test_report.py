"""`factory report`: the figures carry the run folder's numbers (read back out of the page), the page
renders in a real browser without a network, evaluations' accuracy keeps their intervals, each drop reason
shows a kept and a dropped trace (escaped, cut short), the per-teacher table is the summary's, and bad input
is one line."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from curation_script import PROBLEMS, SCRIPT, worked
from PIL import Image
from scripted_teacher import ScriptedTeacher, run_config

from factory.cli import main
from factory.errors import FactoryError
from factory.ledger import read_keyed_samples
from factory.report import KEPT_COLOUR, TIMELINE, TRACE_HEAD, TRACE_TAIL, write_report
from factory.job import run
from factory.storage import write_jsonl

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/install installs it


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished run of the scripted teacher: 6 problems × 3 draws, every default curation unit drops."""
    folder = tmp_path_factory.mktemp("report")
    teacher = ScriptedTeacher(SCRIPT)
    run(run_config(folder, PROBLEMS, {}), lambda line: None, start_teacher=lambda: teacher)
    return folder / "run"


@pytest.fixture(scope="module")
def page(run_dir) -> str:
    return write_report(run_dir).read_text(encoding="utf-8")


def figures(page: str) -> dict[str, dict]:
    """The plotly figures of a report page by element id, as {"data": [traces], "layout": {...}}."""
    decoder = json.JSONDecoder()
    separator = re.compile(r"\s*,\s*")
    found = {}
    for call in re.finditer(r'Plotly\.newPlot\(\s*(?="figure-)', page):
        position = call.end()
        values = []
        for _ in range(3):  # the element id, the traces, the layout
            value, position = decoder.raw_decode(page, position)
            values.append(value)
            position = separator.match(page, position).end()
        found[values[0]] = {"data": values[1], "layout": values[2]}
    return found


def traces(page: str, name: str) -> dict[str, dict]:
    return {trace.get("name", ""): trace for trace in figures(page)[f"figure-{name}"]["data"]}


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_the_header_and_every_figure_carry_the_runs_numbers(run_dir, page):
    summary = summary_of(run_dir)
    for name, value in [
        ("problems", 6),
        ("samples", 18),
        ("correct", 14),
        ("kept", 8),
        ("pass rate", "77.8%"),
    ]:
        assert f"<dt>{name}</dt><dd>{value}</dd>" in page
    assert set(figures(page)) == {
        f"figure-{name}" for name in ["pass-rate", "lengths", "drops", "yield", "cost", "timeline"]
    }

    # drops: one trace per unit, a bar per `unit: reason`
    drops = {
        unit: {label.split(": ", 1)[1]: count for label, count in zip(trace["y"], trace["x"], strict=True)}
        for unit, trace in traces(page, "drops").items()
    }
    assert drops == summary["dropped"]

    # yield per teacher: kept / samples, the counts beside
    (bars,) = traces(page, "yield").values()
    assert bars["x"] == ["scripted:scripted-teacher"] and bars["y"] == [8 / 18]
    assert bars["customdata"] == [[8, 18]]

    # the pass-rate histogram is problem_stats' rates
    stats = [json.loads(line) for line in (run_dir / "problem_stats.jsonl").open()]
    (histogram,) = traces(page, "pass-rate").values()
    assert sorted(histogram["x"]) == sorted(row["pass_rate"] for row in stats if row["pass_rate"] is not None)

    # lengths: kept are the shards' rows, dropped every other sample
    shard_tokens = [
        tokens
        for path in (run_dir / "shards").glob("train-*.parquet")
        for tokens in pq.read_table(path).column("completion_tokens").to_pylist()
    ]
    lengths = traces(page, "lengths")
    assert sorted(lengths["kept"]["x"]) == sorted(shard_tokens) and len(shard_tokens) == summary["kept"]
    assert len(lengths["dropped"]["x"]) == summary["samples"] - summary["kept"]

    # tokens per kept trace: every sample's completion tokens (all made now) over the kept
    spent = sum(sample.completion_tokens for _, sample in read_keyed_samples(run_dir / "samples"))
    assert spent == summary["completion_tokens_now"] == 546
    (cost,) = traces(page, "cost").values()
    assert cost["x"] == ["scripted:scripted-teacher", "all"] and cost["y"] == [546 / 8, 546 / 8]

    # progress: from the teacher's start to the end of the run
    timeline = traces(page, "timeline")
    assert timeline["samples"]["x"][0] == 0 and timeline["samples"]["y"][-1] == 18
    assert timeline["kept"]["y"][-1] == 8


def section(page: str, name: str) -> str:
    return re.search(rf'<section id="{name}">(.*?)</section>', page, re.DOTALL)[1]


EXAMPLE = re.compile(r'<h3>(.*?) <small>.*?</small></h3><div class="pair">(.*?)</div>', re.DOTALL)
TRACE = re.compile(r"<figcaption>((kept|dropped): .*?)</figcaption><pre>(.*?)</pre>", re.DOTALL)


def examples(page: str) -> dict[str, dict[str, tuple[str, str]]]:
    """The examples section: `unit: reason` → kept / dropped → (caption, trace), unescaped."""
    return {
        html.unescape(reason): {
            kind: (html.unescape(caption), html.unescape(text)) for caption, kind, text in TRACE.findall(pair)
        }
        for reason, pair in EXAMPLE.findall(section(page, "examples"))
    }


def table(page: str, name: str) -> dict[str, list[str]]:
    """The table of section `name` by its first column (the header's is ""), cells unescaped."""
    rows = re.findall(r"<tr>(.*?)</tr>", section(page, name))
    cells = [[html.unescape(cell) for cell in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)] for row in rows]
    return {row[0]: row[1:] for row in cells}


TEACHER = "scripted:scripted-teacher"


def test_each_drop_reason_shows_a_kept_and_a_dropped_trace_of_one_problem(run_dir, page):
    shown = examples(page)
    summary = summary_of(run_dir)
    assert set(shown) == {
        f"{unit}: {reason}" for unit, reasons in summary["dropped"].items() for reason in reasons
    }
    # p2: sample 1 is wrong, sample 2 kept (p5's three wrong answers have nothing kept beside them)
    assert shown["verifier: wrong_answer"] == {
        "kept": (f"kept: problem p2, sample 2, {TEACHER}", worked(20, 2, 22, "long")),
        "dropped": (f"dropped: problem p2, sample 1, {TEACHER}", worked(20, 2, 23)),
    }
    assert shown["format: not_boxed"]["dropped"][1] == worked(10, 1, 11, "line")
    assert shown["format: not_boxed"]["kept"][0] == f"kept: problem p1, sample 0, {TEACHER}"


def excluded_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "excluded.jsonl").open(encoding="utf-8")]


def test_a_dropped_trace_comes_from_a_problem_with_a_kept_one_else_any(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    lines = excluded_lines(folder)
    p5_first = sorted(lines, key=lambda line: line["problem_id"] != "p5")
    write_jsonl(folder / "excluded.jsonl", p5_first)
    shown = examples(write_report(folder).read_text(encoding="utf-8"))["verifier: wrong_answer"]
    assert shown["dropped"][0] == f"dropped: problem p2, sample 1, {TEACHER}"

    # Only p5's, which kept nothing: the kept trace is the shards' first
    write_jsonl(folder / "excluded.jsonl", [line for line in lines if line["problem_id"] != "p2"])
    shown = examples(write_report(folder).read_text(encoding="utf-8"))["verifier: wrong_answer"]
    assert shown["dropped"][0] == f"dropped: problem p5, sample 0, {TEACHER}"
    assert shown["kept"] == (f"kept: problem p1, sample 0, {TEACHER}", worked(10, 1, 11))


def test_a_trace_the_package_stage_dropped_is_read_from_the_samples(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    # dedup, the budget and decontamination leave the trace out of excluded.jsonl: it is in samples/
    lines = [line | {"trace": ""} for line in excluded_lines(folder)]
    write_jsonl(folder / "excluded.jsonl", lines)
    shown = examples(write_report(folder).read_text(encoding="utf-8"))["verifier: wrong_answer"]
    assert shown["dropped"] == (f"dropped: problem p2, sample 1, {TEACHER}", worked(20, 2, 23))


PAYLOAD = "</pre><script>alert(1)</script>"


def test_a_trace_is_text_never_markup(tmp_path):
    script = dict(SCRIPT)
    script["p2"] = [
        SCRIPT["p2"][0],
        (f"{PAYLOAD} {worked(20, 2, 23)}", "stop"),  # dropped: wrong answer
        (f"{PAYLOAD} {worked(20, 2, 22, 'long')}", "stop"),  # kept
    ]
    teacher = ScriptedTeacher(script)
    run(run_config(tmp_path, PROBLEMS, {}), lambda line: None, start_teacher=lambda: teacher)
    page = write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    shown = examples(page)["verifier: wrong_answer"]
    assert shown["kept"][1].startswith(PAYLOAD) and shown["dropped"][1].startswith(PAYLOAD)
    assert section(page, "examples").count(html.escape(PAYLOAD)) == 3  # p2 kept again for trivial_reasoning


def test_the_page_stays_small_however_long_and_many_the_drops(run_dir, page, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    long = "a" * 1_000_000 + "z" * TRACE_TAIL
    drop = excluded_lines(folder)[0] | {"unit": "made_up", "reason": "too_long", "trace": long}
    with (folder / "excluded.jsonl").open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(drop) + "\n" for _ in range(10_000))
    bigger = write_report(folder).read_text(encoding="utf-8")
    dropped = examples(bigger)["made_up: too_long"]["dropped"][1]
    cut = len(long) - TRACE_HEAD - TRACE_TAIL
    assert dropped == f"{'a' * TRACE_HEAD}\n[… {cut} characters left out …]\n{'z' * TRACE_TAIL}"
    assert len(bigger) - len(page) < 2 * (TRACE_HEAD + TRACE_TAIL) + 1000
    assert table(bigger, "teachers")["dropped by made_up"] == ["10000"]


def test_the_teachers_table_is_the_summarys(run_dir, page):
    summary = summary_of(run_dir)
    rows = table(page, "teachers")
    counts = summary["teachers"][TEACHER]
    expected = {
        "": [TEACHER],
        "samples": [str(counts["samples"])],
        "correct": [str(summary["correct"])],
        "kept": [str(counts["kept"])],
        **{
            f"dropped by {unit}": [str(sum(reasons.values()))] for unit, reasons in summary["dropped"].items()
        },
        "prompt tokens": [str(20 * summary["samples"])],  # the scripted teacher's prompts count 20
        "completion tokens": [str(summary["completion_tokens_now"])],
        "tokens per kept trace": [f"{(20 * 18 + 546) / 8:.0f}"],
    }
    assert rows == expected  # no cost rows: the summary has no cost
    assert list(rows)[4] == "dropped by verifier"  # the costliest unit first


def test_a_teachers_cost_and_estimated_counts_show_when_the_run_has_them(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    summary = summary_of(folder)
    summary["teachers"][TEACHER]["cost"] = 2.0
    (folder / "summary.json").write_text(json.dumps(summary))
    (journal,) = (folder / "samples").glob("part-*.jsonl")
    samples = [json.loads(line) for line in journal.open(encoding="utf-8")]
    samples[0]["completion_tokens_estimated"] = True  # shared out of a request's count
    write_jsonl(journal, samples)
    page = write_report(folder).read_text(encoding="utf-8")
    rows = table(page, "teachers")
    assert rows["cost"] == ["2.00"] and rows["cost per kept trace"] == ["0.2500"]
    assert rows["completion tokens"] == ["546 (estimated)"]
    assert rows["tokens per kept trace"] == ["113 (estimated)"]


def test_the_page_needs_no_network(page):
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page)
    assert page.count("* plotly.js v") == 1  # the bundle is inlined, once


def test_chromium_draws_the_figures(run_dir, page, tmp_path):
    # No skip: CI installs chromium, and a report nobody can see is the failure this guards.
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/install does)"
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",  # plotly draws after load
            "--window-size=1280,4000",  # the whole page
            f"--screenshot={screenshot}",
            (run_dir / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1280, 4000)
    pixels = {colour: count for count, colour in image.getcolors(1 << 24)}
    # Solid areas only plotly paints: the pass-rate histogram and cost bars (plotly's first colour), the
    # yield bar (kept), and each unit's bar in the drops figure (plotly's next colours). Counting distinct
    # colours would not do: the text alone, anti-aliased, has some 220 (measured with plotly.js cut out).
    for colour in [PLOTLY_BLUE, KEPT_COLOUR, "#EF553B", "#00cc96", "#ab63fa"]:
        assert pixels.get(rgb(colour), 0) > 2000, colour


PLOTLY_BLUE = "#636efa"


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def write_results(folder: Path, label: str | None, metrics: dict, greedy: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    results = {
        "format": "factory-eval/1",
        "label": label,
        "model": f"models/{folder.name}",
        "problems": 300,
        "n": 8,
        "k": [1, 8],
        "greedy": greedy,
        "confidence": 0.95,
        "metrics": metrics,
        "by_source": {},
        "by_difficulty": {},
        "output_tokens": {"sampled": 150.9},
        "finish_reasons": {"sampled": {"stop": 2200, "length": 200}},
        "fidelity": None,
    }
    (folder / "results.json").write_text(json.dumps(results))
    return folder


BEFORE = {
    "greedy_accuracy": {"value": 0.055, "low": 0.030, "high": 0.082},
    "pass@1": {"value": 0.06, "low": 0.04, "high": 0.08},
    "pass@8": {"value": 0.325, "low": 0.27, "high": 0.38},
    "maj@8": {"value": 0.07, "low": 0.04, "high": 0.10},
}
AFTER = {  # sampled only (greedy: false), so no greedy_accuracy
    "maj@8": {"value": 0.21, "low": 0.17, "high": 0.26},
    "pass@8": {"value": 0.52, "low": 0.46, "high": 0.58},
    "pass@1": {"value": 0.18, "low": 0.15, "high": 0.21},
}


def test_accuracy_before_and_after_keeps_each_files_intervals(run_dir, tmp_path):
    before = write_results(tmp_path / "eval-base", "student-base", BEFORE)
    after = write_results(tmp_path / "eval-rft", None, AFTER, greedy=False)  # no label: the folder's name
    page = write_report(run_dir, [before, after], tmp_path / "out.html").read_text(encoding="utf-8")
    accuracy = traces(page, "accuracy")
    assert list(accuracy) == ["student-base", "eval-rft"]
    for trace, metrics in [(accuracy["student-base"], BEFORE), (accuracy["eval-rft"], AFTER)]:
        # metrics in a fixed order: greedy, pass@k by k, maj@k by k
        assert trace["x"] == [
            name for name in ["greedy_accuracy", "pass@1", "pass@8", "maj@8"] if name in metrics
        ]
        assert trace["y"] == [metrics[name]["value"] for name in trace["x"]]
        assert trace["customdata"] == [[metrics[name]["low"], metrics[name]["high"]] for name in trace["x"]]
        for name, up, down in zip(trace["x"], trace["error_y"]["array"], trace["error_y"]["arrayminus"]):
            assert trace["y"][trace["x"].index(name)] + up == pytest.approx(metrics[name]["high"])
            assert trace["y"][trace["x"].index(name)] - down == pytest.approx(metrics[name]["low"])
    assert "0.325 [0.270, 0.380]" in page  # the table beside the figure


def test_a_run_folder_without_a_timeline_says_so_in_one_line(run_dir, tmp_path):
    older = tmp_path / "older"
    shutil.copytree(run_dir, older)
    (older / TIMELINE).unlink()
    page = write_report(older).read_text(encoding="utf-8")
    assert "figure-timeline" not in figures(page)
    assert f"No {TIMELINE}: this run folder was made before runs recorded a timeline." in page


def test_each_invocation_of_a_run_is_a_curve_of_its_own(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    point = {"problems_done": 0, "tokens": 0, "verified": 0}
    first = [{"t": 0.0, "samples": 0, "kept": 0}, {"t": 4.0, "samples": 9, "kept": 2}]
    second = [{"t": 0.0, "samples": 0, "kept": 0}, {"t": 2.5, "samples": 9, "kept": 6}]  # a resume
    write_jsonl(folder / TIMELINE, [point | line for line in first + second])
    timeline = traces(write_report(folder).read_text(encoding="utf-8"), "timeline")
    assert timeline["samples (invocation 1)"]["x"] == [0.0, 4.0]
    assert timeline["kept (invocation 2)"]["x"] == [0.0, 2.5]
    assert timeline["kept (invocation 2)"]["y"] == [0, 6]


def test_problems_without_samples_have_no_pass_rate_to_plot(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    stats = [json.loads(line) for line in (folder / "problem_stats.jsonl").open()]
    never_drawn = {"problem_id": "p7", "samples": 0, "correct": 0, "kept": 0, "pass_rate": None}
    write_jsonl(folder / "problem_stats.jsonl", [*stats, never_drawn])
    page = write_report(folder).read_text(encoding="utf-8")
    (histogram,) = traces(page, "pass-rate").values()
    assert len(histogram["x"]) == 6
    assert "6 problems from problem_stats.jsonl; 1 with no samples have no pass rate" in page


def one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(main, ["report", *args])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert result.output.count("\n") == 1
    return result.output.strip()


def test_a_folder_without_summary_is_one_line(tmp_path):
    assert (
        one_line_error([str(tmp_path)]) == f"error: {tmp_path}: no summary.json; run factory run CONFIG first"
    )


@pytest.mark.parametrize(
    "results, message",
    [
        # factory eval never ran here
        (None, "results.json: not found; run `factory eval CONFIG` first"),
        # cut off mid-write by hand or a full disk
        ('{"format": "factory-eval/1", "metr', "results.json: not JSON (Unterminated string"),
        # some other tool's JSON
        ('{"accuracy": 0.5}', "results.json: format is None, expected 'factory-eval/1'"),
        # an interval without its low end
        (
            '{"format": "factory-eval/1", "metrics": {"pass@1": {"value": 0.5, "high": 0.6}}}',
            "results.json: metrics.pass@1 needs numbers value, low and high",
        ),
    ],
)
def test_a_bad_results_file_is_one_line_naming_it(run_dir, tmp_path, results, message):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    if results is not None:
        (eval_dir / "results.json").write_text(results)
    line = one_line_error([str(run_dir), str(eval_dir), "-o", str(tmp_path / "out.html")])
    assert line.startswith(f"error: {eval_dir / message}")
    assert "factory eval CONFIG" in line
    assert not (tmp_path / "out.html").exists()


def test_the_command_prints_the_path_it_wrote(run_dir, tmp_path):
    out = tmp_path / "nested" / "report.html"
    result = CliRunner().invoke(main, ["report", str(run_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"report     {out}\n" and out.is_file()


def test_without_plotly_the_report_says_how_to_install_it(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly raises ImportError
    with pytest.raises(FactoryError, match=r"^factory report needs plotly: pip install -e '\.\[report\]'$"):
        write_report(run_dir, out=tmp_path / "out.html")


def test_import_factory_does_not_import_plotly():
    code = "import sys, factory, factory.cli, factory.report; assert 'plotly' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
