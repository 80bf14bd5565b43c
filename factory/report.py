"""`factory report`: one HTML page of a run folder's figures, and of evaluations' accuracy, that opens
anywhere without a network.

Everything on the page is read from files the run left (summary.json, problem_stats.jsonl, samples/,
the train shards, timeline.jsonl) or that `factory eval` wrote (results.json); nothing is recomputed
that the run already counted, so a figure's numbers are the summary's. The figures are plotly's: the
plotly.js bundle (4.8 MB) is inlined once, before the first figure, and each figure's data sits
in the page as plotly's JSON, readable by a script as well as by a browser.
"""

from __future__ import annotations

import html
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.errors import FactoryError
from factory.eval import RESULTS_FILE, Interval, load_results
from factory.ledger import read_keyed_samples
from factory.reject import teacher_name
from factory.storage import atomic_open

if TYPE_CHECKING:
    import plotly.graph_objects as go

TIMELINE = "timeline.jsonl"
KEPT_COLOUR = "#2ca02c"
DROPPED_COLOUR = "#9e9e9e"
FIGURE_HEIGHT = 380


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What the report uses of one `factory eval` results.json."""

    label: str
    model: str
    problems: int | None
    metrics: dict[str, Interval]


@dataclass(frozen=True, slots=True)
class SampleLength:
    """One sample on disk, as the length and cost figures see it."""

    teacher: str
    tokens: int | None  # None: the teacher reported no count
    characters: int
    kept: bool


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # the figure's element id is figure-NAME
    title: str
    note: str  # one line under the title: what the figure shows, or why there is none
    figure: go.Figure | None = None
    table: str = ""


def write_report(run_dir: Path, eval_dirs: Sequence[Path] = (), out: Path | None = None) -> Path:
    """Write the report of `run_dir` (and of the evaluations in `eval_dirs`) to `out`, by default
    `run_dir/report.html`, and return where it went."""
    summary = read_summary(run_dir)
    evals = [read_eval(eval_dir) for eval_dir in eval_dirs]
    _require_plotly()
    lengths = list(sample_lengths(run_dir))
    sections = [
        pass_rate_section(run_dir),
        length_section(lengths),
        drops_section(summary),
        yield_section(summary),
        cost_section(summary, lengths),
        timeline_section(run_dir),
    ]
    if evals:
        sections.append(eval_section(evals))
    target = out or run_dir / "report.html"
    with atomic_open(target) as handle:
        handle.write(_page(run_dir, summary, sections))
    return target


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise FactoryError(f"{run_dir}: no summary.json; run factory run CONFIG first")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        summary = f"not JSON ({error.msg}, line {error.lineno})"
    if not isinstance(summary, dict):
        raise FactoryError(f"{path}: {summary}; run factory run CONFIG again to rewrite it")
    for key, value in summary.items():
        if key in _SUMMARY_FIELDS and not _SUMMARY_FIELDS[key][1](value):
            raise FactoryError(
                f"{path}: {key} is not {_SUMMARY_FIELDS[key][0]} (got {json.dumps(value)[:60]}); "
                "run factory run CONFIG again to rewrite it"
            )
    return summary


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_counts(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and all(isinstance(inner, dict) and all(map(_is_number, inner.values())) for inner in value.values())
    )


# The fields of summary.json the page draws from, with what each must be.
_SUMMARY_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    **{
        name: ("a number", _is_number)
        for name in ("problems", "samples", "correct", "kept", "pass_rate", "wall_seconds")
    },
    **{
        name: ("counts by name, then by reason or kind", _is_counts)
        for name in ("dropped", "problems_dropped", "teachers")
    },
}


def read_eval(eval_dir: Path) -> EvalResult:
    """The results.json of a `factory eval` folder; anything else is a one-line error naming the file."""
    path = eval_dir / RESULTS_FILE
    data = load_results(eval_dir)
    metrics = data.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise FactoryError(f"{path}: no metrics; run `factory eval CONFIG` again")
    return EvalResult(
        label=str(data.get("label") or eval_dir.resolve().name),
        model=str(data.get("model") or ""),
        problems=data.get("problems"),
        metrics={name: _interval(path, name, metric) for name, metric in metrics.items()},
    )


def _interval(path: Path, name: str, metric: Any) -> Interval:
    parts = [metric.get(part) if isinstance(metric, dict) else None for part in ("value", "low", "high")]
    if not all(isinstance(part, int | float) and not isinstance(part, bool) for part in parts):
        raise FactoryError(
            f"{path}: metrics.{name} needs numbers value, low and high (got {json.dumps(metric)}); "
            "run `factory eval CONFIG` again"
        )
    return Interval(*(float(part) for part in parts))


def _require_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise FactoryError("factory report needs plotly: pip install -e '.[report]'") from None


def sample_lengths(run_dir: Path) -> Iterator[SampleLength]:
    """Every sample on disk, kept when its key is a row of the train shards."""
    kept_keys: set[str] = set()
    for path in sorted((run_dir / "shards").glob("train-*.parquet")):
        try:
            kept_keys.update(pq.read_table(path, columns=["sample_key"]).column("sample_key").to_pylist())
        except (pa.ArrowException, OSError):
            raise FactoryError(
                f"{path}: not a Parquet file with a sample_key column; delete {path.parent} and run "
                "factory run CONFIG again to write the shards again"
            ) from None
    for key, sample in read_keyed_samples(run_dir / "samples"):
        yield SampleLength(
            teacher_name(sample), sample.completion_tokens, len(sample.trace_text()), key in kept_keys
        )


def _rows(path: Path, fits: Callable[[dict[str, Any]], bool], damaged: list[int]) -> Iterator[dict[str, Any]]:
    """The rows of the JSON-lines file `path` that `fits` accepts. The numbers of the other lines (not JSON,
    not UTF-8, without what the figure needs: cut by a crash, edited by hand) go to `damaged`, so that a
    section is drawn from what is left and says what was left out."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:  # UnicodeDecodeError is one
                row = None
            if isinstance(row, dict) and fits(row):
                yield row
            else:
                damaged.append(number)


def _damage_note(path: Path, damaged: list[int]) -> str:
    if not damaged:
        return ""
    shown = ", ".join(map(str, damaged[:3])) + (f" and {len(damaged) - 3} more" if len(damaged) > 3 else "")
    return f"; lines of {path.name} left out as damaged: {shown}"


# --- the sections, one per question -------------------------------------------------------------------


def pass_rate_section(run_dir: Path) -> Section:
    import plotly.graph_objects as go

    title = "Pass rate per problem"
    path = run_dir / "problem_stats.jsonl"
    if not path.is_file():
        return Section(
            "pass-rate", title, f"{path.name} is missing: this run folder has no per-problem counts."
        )
    damaged: list[int] = []
    rates = [row["pass_rate"] for row in _rows(path, _has_pass_rate, damaged)]
    drawn = [rate for rate in rates if rate is not None]
    # Bins centred on multiples of 0.05, so 0, 1/4, 1/2 and 1 each sit in a bin of their own.
    figure = go.Figure(go.Histogram(x=drawn, xbins={"start": -0.025, "end": 1.025, "size": 0.05}))
    _layout(figure, "verifier pass rate (correct / drawn)", "problems")
    figure.update_layout(xaxis={"range": [-0.05, 1.05]})
    counts = Counter(round(rate, 3) for rate in drawn)
    note = f"{len(drawn)} problems from {path.name}"
    if len(drawn) < len(rates):
        note += f"; {len(rates) - len(drawn)} with no samples have no pass rate and are not counted"
    note += _damage_note(path, damaged)
    rows = [[f"{rate:g}", counts[rate]] for rate in sorted(counts)]
    return Section("pass-rate", title, note, figure, _table(["pass rate", "problems"], rows))


def _has_pass_rate(row: dict[str, Any]) -> bool:
    """None for a problem without samples."""
    return "pass_rate" in row and (row["pass_rate"] is None or _is_number(row["pass_rate"]))


def length_section(lengths: list[SampleLength]) -> Section:
    import plotly.graph_objects as go

    title = "Trace lengths, kept and dropped"
    if not lengths:
        return Section("lengths", title, "No samples on disk.")
    # A teacher that reports no token counts makes every length a character count: one unit per figure.
    by_tokens = all(length.tokens is not None for length in lengths)
    unit = "completion tokens" if by_tokens else "characters"
    groups = {
        "dropped": [_length(length, by_tokens) for length in lengths if not length.kept],
        "kept": [_length(length, by_tokens) for length in lengths if length.kept],  # drawn on top
    }
    # Shares of each group on shared bins: a few kept traces beside many dropped ones still show a shape.
    figure = go.Figure(
        [
            go.Histogram(
                x=values, name=name, marker_color=colour, opacity=0.65, histnorm="percent", bingroup="length"
            )
            for (name, values), colour in zip(groups.items(), (DROPPED_COLOUR, KEPT_COLOUR), strict=True)
        ]
    )
    _layout(figure, unit, "% of the group's samples")
    figure.update_layout(barmode="overlay")
    rows = [[name, len(values), *_spread(values)] for name, values in groups.items()]
    note = f"kept: rows of shards/train-*.parquet; dropped: every other sample in samples/ ({unit})"
    return Section("lengths", title, note, figure, _table(["", "samples", "median", "mean", "max"], rows))


def _length(length: SampleLength, by_tokens: bool) -> int:
    return length.tokens if by_tokens and length.tokens is not None else length.characters


def _spread(values: list[int]) -> list[str]:
    if not values:
        return ["", "", ""]
    return [f"{statistics.median(values):g}", f"{statistics.fmean(values):.1f}", str(max(values))]


def drops_section(summary: dict[str, Any]) -> Section:
    import plotly.graph_objects as go

    title = "Drops by unit and reason"
    dropped: dict[str, dict[str, int]] = summary.get("dropped") or {}
    if not dropped:
        return Section("drops", title, "Nothing was dropped.")
    units = sorted(dropped, key=lambda unit: -sum(dropped[unit].values()))  # the costliest unit first
    # One trace per unit, so the legend and the colours name the unit; a bar is `unit: reason`.
    figure = go.Figure(
        [
            go.Bar(
                y=[f"{unit}: {reason}" for reason in dropped[unit]],
                x=list(dropped[unit].values()),
                name=unit,
                orientation="h",
            )
            for unit in units
        ]
    )
    _layout(figure, "samples dropped", "")
    figure.update_layout(yaxis={"autorange": "reversed"})
    rows = [[unit, reason, count] for unit in units for reason, count in dropped[unit].items()]
    total = sum(count for _, _, count in rows)
    note = f"{total} of {summary.get('samples', 0)} samples, from summary.json's dropped"
    if before := summary.get("problems_dropped"):
        left_out = ", ".join(f"{unit}: {reason} {n}" for unit, r in before.items() for reason, n in r.items())
        note += f"; problems left out before sampling: {left_out}"
    return Section("drops", title, note, figure, _table(["unit", "reason", "samples"], rows))


def yield_section(summary: dict[str, Any]) -> Section:
    import plotly.graph_objects as go

    title = "Yield per teacher"
    teachers: dict[str, dict[str, int]] = summary.get("teachers") or {}
    if not teachers:
        return Section("yield", title, "summary.json counts no teacher.")
    names = list(teachers)
    counts = [(teachers[name].get("samples", 0), teachers[name].get("kept", 0)) for name in names]
    figure = go.Figure(
        go.Bar(
            x=names,
            y=[kept / samples if samples else 0.0 for samples, kept in counts],
            customdata=[[kept, samples] for samples, kept in counts],
            texttemplate="%{customdata[0]} / %{customdata[1]}",
            hovertemplate="%{x}: %{customdata[0]} kept of %{customdata[1]} (%{y:.1%})<extra></extra>",
            marker_color=KEPT_COLOUR,
        )
    )
    _layout(figure, "", "kept / samples")
    figure.update_layout(yaxis={"tickformat": ".1~%", "rangemode": "tozero"})
    rows = [
        [name, samples, kept, f"{kept / samples:.1%}" if samples else ""]
        for name, (samples, kept) in zip(names, counts, strict=True)
    ]
    note = "kept traces over samples drawn, from summary.json's teachers"
    return Section("yield", title, note, figure, _table(["teacher", "samples", "kept", "yield"], rows))


def cost_section(summary: dict[str, Any], lengths: list[SampleLength]) -> Section:
    import plotly.graph_objects as go

    title = "Tokens spent per kept trace"
    spent: Counter[str] = Counter()
    uncounted = 0
    for length in lengths:
        spent[length.teacher] += length.tokens or 0
        uncounted += length.tokens is None
    teachers: dict[str, dict[str, int]] = summary.get("teachers") or {}
    kept = {name: counts.get("kept", 0) for name, counts in teachers.items()}
    # (who, tokens spent, traces kept): each teacher, then the run
    spending = [(name, spent[name], kept.get(name, 0)) for name in sorted(set(spent) | set(kept))]
    spending.append(("all", sum(spent.values()), summary.get("kept", 0)))
    per_trace = [tokens / made if made else None for _, tokens, made in spending]
    figure = go.Figure(
        go.Bar(
            x=[name for name, _, _ in spending],
            y=per_trace,
            customdata=[[tokens, made] for _, tokens, made in spending],
            hovertemplate="%{x}: %{customdata[0]} tokens for %{customdata[1]} kept<extra></extra>",
        )
    )
    _layout(figure, "", "completion tokens per kept trace")
    rows = [
        [*spent_on, f"{cost:.0f}" if cost is not None else "no kept trace"]
        for spent_on, cost in zip(spending, per_trace, strict=True)
    ]
    note = "completion tokens of every sample on disk (samples/), over the kept traces (summary.json)"
    if uncounted:
        note += f"; {uncounted} samples carry no token count and add nothing"
    return Section(
        "cost", title, note, figure, _table(["teacher", "tokens", "kept", "tokens per kept"], rows)
    )


def timeline_section(run_dir: Path) -> Section:
    import plotly.graph_objects as go

    title = "Progress over time"
    path = run_dir / TIMELINE
    if not path.is_file():
        return Section(
            "timeline", title, f"No {TIMELINE}: this run folder was made before runs recorded a timeline."
        )
    damaged: list[int] = []
    invocations = _invocations(list(_rows(path, _is_point, damaged)))
    figure = go.Figure()
    for number, points in enumerate(invocations, start=1):
        suffix = f" (invocation {number})" if len(invocations) > 1 else ""
        seconds = [point["t"] for point in points]
        for counter, colour in (("samples", DROPPED_COLOUR), ("kept", KEPT_COLOUR)):
            figure.add_scatter(
                x=seconds,
                y=[point[counter] for point in points],
                name=counter + suffix,
                mode="lines+markers",
                line_color=colour,
            )
    _layout(figure, "seconds since the teacher started", "this invocation's count")
    rows = [
        [number, len(points), f"{points[-1]['t']:g}", points[-1]["samples"], points[-1]["kept"]]
        for number, points in enumerate(invocations, start=1)
    ]
    note = f"from {TIMELINE}: one line per progress update; each invocation of the run counts from zero"
    note += _damage_note(path, damaged)
    headers = ["invocation", "points", "seconds", "samples", "kept"]
    return Section("timeline", title, note, figure, _table(headers, rows))


def _is_point(row: dict[str, Any]) -> bool:
    return all(_is_number(row.get(name)) for name in ("t", "samples", "kept"))


def _invocations(points: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The timeline cut where time goes back: each invocation appends its own points from t = 0."""
    invocations: list[list[dict[str, Any]]] = []
    for point in points:
        if not invocations or point["t"] < invocations[-1][-1]["t"]:
            invocations.append([])
        invocations[-1].append(point)
    return invocations


def eval_section(evals: list[EvalResult]) -> Section:
    import plotly.graph_objects as go

    names = sorted({name for result in evals for name in result.metrics}, key=_metric_order)
    figure = go.Figure()
    for result in evals:
        present = [name for name in names if name in result.metrics]
        intervals = [result.metrics[name] for name in present]
        figure.add_bar(
            x=present,
            y=[interval.value for interval in intervals],
            name=result.label,
            customdata=[[interval.low, interval.high] for interval in intervals],
            error_y={
                "type": "data",
                "array": [interval.high - interval.value for interval in intervals],
                "arrayminus": [interval.value - interval.low for interval in intervals],
            },
            hovertemplate="%{x}: %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]",
        )
    _layout(figure, "", "accuracy")
    figure.update_layout(barmode="group", yaxis={"tickformat": ".1~%", "rangemode": "tozero"})
    rows = [
        [
            result.label,
            result.model,
            result.problems if result.problems is not None else "",
            *(_interval_text(result.metrics.get(name)) for name in names),
        ]
        for result in evals
    ]
    note = "each evaluation's metrics from its results.json, with their confidence intervals"
    return Section(
        "accuracy", "Accuracy", note, figure, _table(["evaluation", "model", "problems", *names], rows)
    )


def _metric_order(name: str) -> tuple[int, int, str]:
    """greedy_accuracy, then pass@k by k, then maj@k by k, then any other metric by name."""
    if name == "greedy_accuracy":
        return (0, 0, name)
    if match := re.fullmatch(r"(pass|maj)@(\d+)", name):
        return (1 if match[1] == "pass" else 2, int(match[2]), name)
    return (3, 0, name)


def _interval_text(interval: Interval | None) -> str:
    if interval is None:
        return ""
    return f"{interval.value:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


# --- the page -------------------------------------------------------------------------------------------


def _layout(figure: go.Figure, x_title: str, y_title: str) -> None:
    figure.update_layout(
        template="plotly_white",
        height=FIGURE_HEIGHT,
        margin={"l": 60, "r": 20, "t": 20, "b": 50},
        xaxis_title=x_title,
        yaxis_title=y_title,
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _header(run_dir: Path, summary: dict[str, Any]) -> str:
    facts = [
        ("run folder", str(run_dir)),
        *((name, summary.get(name, "")) for name in ("problems", "samples", "correct", "kept")),
        ("pass rate", f"{summary['pass_rate']:.1%}" if "pass_rate" in summary else ""),
        ("wall time", f"{summary['wall_seconds']:g} s" if "wall_seconds" in summary else ""),
    ]
    return (
        "<dl>"
        + "".join(f"<dt>{name}</dt><dd>{html.escape(str(value))}</dd>" for name, value in facts)
        + "</dl>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.5em; }
dt { color: #666; } dd { margin: 0; font-variant-numeric: tabular-nums; }
section { margin-top: 2.5em; } .note { color: #555; margin: 0.2em 0 0.8em; }
table { border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums; margin-top: 0.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.8em; text-align: left; }
"""


def _page(run_dir: Path, summary: dict[str, Any], sections: list[Section]) -> str:
    parts = []
    bundled = False
    for section in sections:
        figure = ""
        if section.figure is not None:
            # The bundle goes with the first figure only: the page works offline and carries it once.
            figure = section.figure.to_html(
                full_html=False,
                include_plotlyjs=not bundled,
                div_id=f"figure-{section.name}",
                config={"displaylogo": False},
            )
            bundled = True
        parts.append(
            f"<section><h2>{html.escape(section.title)}</h2>"
            f'<p class="note">{html.escape(section.note)}</p>{figure}{section.table}</section>'
        )
    title = f"factory report: {html.escape(str(run_dir))}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>{_header(run_dir, summary)}"
        + "".join(parts)
        + "</body></html>\n"
    )
