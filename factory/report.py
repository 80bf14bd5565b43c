"""`factory report`: one HTML page of a run folder's figures, and of evaluations' accuracy, that opens
anywhere without a network.

Everything on the page is read from files the run left (summary.json, problem_stats.jsonl, samples/,
the train shards, excluded.jsonl, timeline.jsonl) or that `factory eval` wrote (results.json); nothing is
recomputed that the run already counted, so a figure's numbers are the summary's. The figures are plotly's:
the plotly.js bundle (4.8 MB) is inlined once, before the first figure, and each figure's data sits
in the page as plotly's JSON, readable by a script as well as by a browser. Traces are the teacher's text,
untrusted: they are escaped, and cut to a head and a tail, so the page stays small however large the run.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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
EXCLUDED = "excluded.jsonl"
KEPT_COLOUR = "#2ca02c"
DROPPED_COLOUR = "#9e9e9e"
FIGURE_HEIGHT = 380
# A trace on the page: its first and last characters, with how many were cut between them.
TRACE_HEAD = 400
TRACE_TAIL = 200
SHARD_BATCH = 1024  # rows read at a time: a batch of long traces stays a few MB


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What the report uses of one `factory eval` results.json."""

    label: str
    model: str
    problems: int | None
    metrics: dict[str, Interval]


@dataclass(frozen=True, slots=True)
class SampleLength:
    """One sample on disk, as the length and cost figures and the teachers' table see it."""

    teacher: str
    tokens: int | None  # None: the teacher reported no count
    characters: int
    kept: bool
    prompt_tokens: int | None
    # `tokens` is the sample's share of a count the server made over several (`completion_tokens_estimated`)
    estimated: bool


@dataclass(frozen=True, slots=True)
class Example:
    """A trace shown on the page, with where it came from."""

    problem_id: str
    sample_index: int
    teacher: str
    text: str  # already `_shortened`
    sample_key: str


@dataclass(slots=True)
class Spent:
    """One teacher's tokens over every sample on disk."""

    prompt: int = 0
    completion: int = 0
    estimated: bool = False  # some completion count is a request's count shared out over its samples


@dataclass(slots=True)
class KeptRows:
    """What the report needs of the train shards besides lengths, from one read of a few columns."""

    problems: set[str] = field(default_factory=set)  # problems with a kept trace
    correct: Counter[str] = field(default_factory=Counter)  # teacher → kept traces found correct


@dataclass(slots=True)
class Exclusions:
    """What the report keeps of excluded.jsonl, read once line by line: counts, and one trace per reason."""

    found: bool
    # (teacher, unit, reason) → samples
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)  # teacher → dropped samples found correct
    without_status: int = 0  # lines from before exclusions carried the verifier's status
    # (unit, reason) → a dropped trace, from a problem with a kept trace when there is one
    examples: dict[tuple[str, str], Example] = field(default_factory=dict)
    damaged: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # the figure's element id is figure-NAME
    title: str
    note: str  # one line under the title: what the figure shows, or why there is none
    figure: go.Figure | None = None
    body: str = ""  # HTML under the figure: its numbers as a table, or the example traces


def write_report(run_dir: Path, eval_dirs: Sequence[Path] = (), out: Path | None = None) -> Path:
    """Write the report of `run_dir` (and of the evaluations in `eval_dirs`) to `out`, by default
    `run_dir/report.html`, and return where it went."""
    summary = read_summary(run_dir)
    evals = [read_eval(eval_dir) for eval_dir in eval_dirs]
    _require_plotly()
    lengths = list(sample_lengths(run_dir))
    kept = kept_rows(run_dir)
    exclusions = read_exclusions(run_dir, kept.problems)
    sections = [
        pass_rate_section(run_dir),
        length_section(lengths),
        drops_section(summary),
        yield_section(summary),
        cost_section(summary, lengths),
        teachers_section(summary, lengths, kept, exclusions),
        timeline_section(run_dir),
    ]
    if evals:
        sections.append(eval_section(evals))
    sections.append(examples_section(run_dir, exclusions))  # the longest, text: after every figure
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
    kept_keys = {row["sample_key"] for row in _shard_rows(run_dir, ["sample_key"])}
    for key, sample in read_keyed_samples(run_dir / "samples"):
        yield SampleLength(
            teacher_name(sample),
            sample.completion_tokens,
            len(sample.trace_text()),
            key in kept_keys,
            sample.prompt_tokens,
            sample.completion_tokens_estimated,
        )


def kept_rows(run_dir: Path) -> KeptRows:
    kept = KeptRows()
    for row in _shard_rows(run_dir, ["problem_id", "teacher_backend", "teacher_model", "verdict_status"]):
        kept.problems.add(row["problem_id"])
        if row["verdict_status"] == "correct":
            kept.correct[f"{row['teacher_backend']}:{row['teacher_model']}"] += 1
    return kept


def _shard_rows(run_dir: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of the train shards, `columns` of them, a batch at a time so memory stays flat."""
    for path in sorted((run_dir / "shards").glob("train-*.parquet")):
        try:
            with pq.ParquetFile(path) as shard:
                # iter_batches passes over a column the file lacks; the rows would lack it too
                if not set(columns) <= set(shard.schema_arrow.names):
                    raise _damaged_shard(path, columns)
                for batch in shard.iter_batches(batch_size=SHARD_BATCH, columns=columns):
                    yield from batch.to_pylist()
        except (pa.ArrowException, OSError):
            raise _damaged_shard(path, columns) from None


def _damaged_shard(path: Path, columns: list[str]) -> FactoryError:
    wanted = f"a {columns[0]} column" if len(columns) == 1 else f"the columns {', '.join(columns)}"
    return FactoryError(
        f"{path}: not a Parquet file with {wanted}; delete {path.parent} and run "
        "factory run CONFIG again to write the shards again"
    )


def read_exclusions(run_dir: Path, kept_problems: set[str]) -> Exclusions:
    """The counts of excluded.jsonl, and for each (unit, reason) one dropped trace: the first from a problem
    in `kept_problems`, else the first of all. Only these are held, so memory does not grow with the file."""
    path = run_dir / EXCLUDED
    if not path.is_file():
        return Exclusions(found=False)
    exclusions = Exclusions(found=True)
    for row in _rows(path, _is_exclusion, exclusions.damaged):
        teacher, reason = row["teacher"], (row["unit"], row["reason"])
        exclusions.counts[(teacher, *reason)] += 1
        status = row.get("status") or None  # "" when written before exclusions carried it
        if status is None:
            exclusions.without_status += 1
        exclusions.correct[teacher] += status == "correct"
        held = exclusions.examples.get(reason)
        if held is None or (held.problem_id not in kept_problems and row["problem_id"] in kept_problems):
            exclusions.examples[reason] = Example(
                row["problem_id"], row["sample_index"], teacher, _shortened(row["trace"]), row["sample_key"]
            )
    return exclusions


def _is_exclusion(row: dict[str, Any]) -> bool:
    names = ("problem_id", "sample_key", "unit", "reason", "trace", "teacher")
    return (
        all(isinstance(row.get(name), str) for name in names)
        and type(row.get("sample_index")) is int
        and isinstance(row.get("status", ""), str)
    )


def _shortened(text: str) -> str:
    cut = len(text) - TRACE_HEAD - TRACE_TAIL
    if cut <= 0:
        return text
    return f"{text[:TRACE_HEAD]}\n[… {cut} characters left out …]\n{text[-TRACE_TAIL:]}"


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


def teachers_section(
    summary: dict[str, Any], lengths: list[SampleLength], kept: KeptRows, exclusions: Exclusions
) -> Section:
    title = "Per teacher"
    teachers: dict[str, dict[str, Any]] = summary.get("teachers") or {}
    spent: dict[str, Spent] = {}
    uncounted = 0
    for length in lengths:
        tokens = spent.setdefault(length.teacher, Spent())
        tokens.prompt += length.prompt_tokens or 0
        tokens.completion += length.tokens or 0
        tokens.estimated |= length.estimated
        uncounted += length.prompt_tokens is None or length.tokens is None
    names = [*teachers, *sorted(set(spent) - set(teachers))]
    if not names:
        return Section("teachers", title, "summary.json counts no teacher and samples/ holds no sample.")
    dropped: dict[str, Counter[str]] = {}  # unit → teacher → samples
    for (teacher, unit, _), count in exclusions.counts.items():
        dropped.setdefault(unit, Counter())[teacher] += count
    units = sorted(dropped, key=lambda unit: -dropped[unit].total())  # the costliest unit first
    # Without every drop's status the correct ones cannot be told from the rest.
    knows_correct = exclusions.found and not exclusions.without_status
    columns = []
    for name in names:
        counts, tokens = teachers.get(name, {}), spent.get(name, Spent())
        made = counts.get("kept", 0)
        estimated = " (estimated)" if tokens.estimated else ""
        cost = counts.get("cost")
        columns.append(
            [
                counts.get("samples", 0),
                kept.correct[name] + exclusions.correct[name] if knows_correct else "",
                made,
                *(dropped[unit][name] for unit in units),
                tokens.prompt,
                f"{tokens.completion}{estimated}",
                f"{(tokens.prompt + tokens.completion) / made:.0f}{estimated}" if made else "no kept trace",
                f"{cost:.2f}" if _is_number(cost) else "",
                (f"{cost / made:.4f}" if made else "no kept trace") if _is_number(cost) else "",
            ]
        )
    labels = [
        "samples",
        "correct",
        "kept",
        *(f"dropped by {unit}" for unit in units),
        "prompt tokens",
        "completion tokens",
        "tokens per kept trace",
        "cost",
        "cost per kept trace",
    ]
    # summary.json has a cost only where the teacher's prices are known: no row of blanks otherwise.
    if not any(_is_number(teachers.get(name, {}).get("cost")) for name in names):
        labels = labels[:-2]
    rows = [[label, *(column[row] for column in columns)] for row, label in enumerate(labels)]
    note = (
        "samples and kept from summary.json's teachers; correct and drops from shards/train-*.parquet and "
        f"{EXCLUDED}; prompt and completion tokens of every sample on disk (samples/), over the kept"
    )
    if not exclusions.found:
        note += f"; {EXCLUDED} is missing: no drops, and correct is not counted"
    elif exclusions.without_status:
        note += (
            f"; {exclusions.without_status} lines of {EXCLUDED} carry no verifier status (an older factory "
            "wrote them): correct is not counted"
        )
    if any(tokens.estimated for tokens in spent.values()):
        note += "; estimated: a server counted completion tokens per request, shared out over its samples"
    if uncounted:
        note += f"; {uncounted} samples carry no token count and add nothing"
    note += _damage_note(Path(EXCLUDED), exclusions.damaged)
    return Section("teachers", title, note, body=_table(["", *names], rows))


def examples_section(run_dir: Path, exclusions: Exclusions) -> Section:
    title = "A kept and a dropped trace per drop reason"
    damage = _damage_note(Path(EXCLUDED), exclusions.damaged)
    if not exclusions.found:
        return Section("examples", title, f"{EXCLUDED} is missing: this run folder has no drops to show.")
    if not exclusions.examples:
        return Section("examples", title, "Nothing was dropped" + (damage or "."))
    wanted = {example.problem_id for example in exclusions.examples.values()}
    kept, first_kept = _kept_examples(run_dir, wanted)
    # The package stage's drops (dedup, budget...) leave their trace in samples/ only.
    texts = _journal_texts(run_dir, {e.sample_key for e in exclusions.examples.values() if not e.text})
    reasons: Counter[tuple[str, str]] = Counter()
    for (_, unit, reason), count in exclusions.counts.items():
        reasons[(unit, reason)] += count
    parts = []
    for (unit, reason), count in reasons.most_common():
        dropped = exclusions.examples[(unit, reason)]
        if not dropped.text:
            dropped = dataclasses.replace(dropped, text=texts.get(dropped.sample_key, ""))
        parts.append(
            f"<h3>{html.escape(f'{unit}: {reason}')} <small>({count} dropped)</small></h3>"
            f'<div class="pair">{_example_html("kept", kept.get(dropped.problem_id, first_kept))}'
            f"{_example_html('dropped', dropped)}</div>"
        )
    note = (
        f"for each reason, a trace the shards kept and one {EXCLUDED} holds, of the same problem where it "
        f"has both; each cut to its first {TRACE_HEAD} and last {TRACE_TAIL} characters{damage}"
    )
    return Section("examples", title, note, body="".join(parts))


def _kept_examples(run_dir: Path, problems: set[str]) -> tuple[dict[str, Example], Example | None]:
    """The first kept trace of each of `problems`, and the first kept trace of all."""
    found: dict[str, Example] = {}
    first = None
    columns = ["problem_id", "sample_index", "teacher_backend", "teacher_model", "trace", "sample_key"]
    for row in _shard_rows(run_dir, columns):
        problem = row["problem_id"]
        wanted = problem in problems and problem not in found
        if first is not None and not wanted:
            continue
        example = Example(
            problem,
            row["sample_index"],
            f"{row['teacher_backend']}:{row['teacher_model']}",
            _shortened(row["trace"]),
            row["sample_key"],
        )
        first = first or example
        if wanted:
            found[problem] = example
        if len(found) == len(problems):
            break
    return found, first


def _journal_texts(run_dir: Path, keys: set[str]) -> dict[str, str]:
    """The shortened traces of the samples `keys` in samples/."""
    texts: dict[str, str] = {}
    if keys:
        for key, sample in read_keyed_samples(run_dir / "samples"):
            if key in keys:
                texts[key] = _shortened(sample.trace_text())
                if len(texts) == len(keys):
                    break
    return texts


def _example_html(kind: str, example: Example | None) -> str:
    if example is None:
        return f"<figure><figcaption>{kind}: no trace was kept</figcaption></figure>"
    caption = html.escape(
        f"{kind}: problem {example.problem_id}, sample {example.sample_index}, {example.teacher}"
    )
    return f"<figure><figcaption>{caption}</figcaption><pre>{html.escape(example.text)}</pre></figure>"


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
h3 { font-size: 1em; margin: 1.5em 0 0.4em; } h3 small { color: #555; font-weight: normal; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
figure { margin: 0; min-width: 0; } figcaption { color: #555; font-size: 0.85em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 0.5em; margin: 0.2em 0;
  font-size: 0.8em; }
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
            f'<section id="{section.name}"><h2>{html.escape(section.title)}</h2>'
            f'<p class="note">{html.escape(section.note)}</p>{figure}{section.body}</section>'
        )
    title = f"factory report: {html.escape(str(run_dir))}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>{_header(run_dir, summary)}"
        + "".join(parts)
        + "</body></html>\n"
    )
