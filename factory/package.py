"""Stage 4: kept samples → Parquet shards that `datasets` loads and TRL's `SFTTrainer` trains on as they are.

Column choice: `prompt` is TRL's conversational prompt, the list of chat messages the teacher saw (system +
user), and `completion` is the one-message assistant turn holding the trace. TRL then computes the loss on
the completion only. The design's `prompt, trace, answer` are these `prompt`, plus `trace` (the same text
as the completion, as a plain string) and `answer` (the verified final answer). Everything else is
provenance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from factory.card import card_sample
from factory.config import PackageConfig, PreferenceConfig
from factory.corpus import DECONTAMINATE_UNIT, dedup_unit_name
from factory.errors import FactoryError
from factory.ledger import read_curated, read_keyed_samples
from factory.records import Exclusion, KeptTrace, Problem, ProblemCuration, Sample
from factory.storage import StageMarkers, atomic_open, disk_full, fingerprint, write_json, write_jsonl
from filters.curation import VERIFIER_UNIT
from filters.dedup import DuplicateFinder
from filters.selectors import fair_quotas

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

SCHEMA = pa.schema(
    [
        ("prompt", _MESSAGES),
        ("completion", _MESSAGES),
        ("trace", pa.string()),
        ("answer", pa.string()),
        ("gold_answer", pa.string()),
        ("gold_source", pa.string()),  # given | majority: the gold was the teacher's majority answer
        ("vote_share", pa.float64()),  # the majority answer's share of the problem's draws (majority on)
        ("problem", pa.string()),
        ("problem_id", pa.string()),
        ("sample_index", pa.int32()),
        ("reasoning", pa.string()),
        ("teacher_backend", pa.string()),
        ("teacher_model", pa.string()),
        ("sampling_params", pa.string()),  # JSON: one schema however the params evolve
        ("prompt_template", pa.string()),
        ("prompt_hash", pa.string()),
        ("verdict_status", pa.string()),
        ("verdict_reason", pa.string()),
        ("verifier", pa.string()),
        ("answer_found_by", pa.string()),  # boxed, marker, last_number...: how the verifier found the answer
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()),
        ("sample_key", pa.string()),
    ]
)


def to_row(sample: Sample, kept: KeptTrace, problem: Problem, curation: ProblemCuration) -> dict[str, Any]:
    trace = sample.trace_text()
    return {
        "prompt": sample.messages,
        "completion": [{"role": "assistant", "content": trace}],
        "trace": trace,
        "answer": kept.answer,
        "gold_answer": curation.gold,
        "gold_source": curation.gold_source,
        "vote_share": curation.vote_share,
        "problem": problem.problem,
        "problem_id": sample.problem_id,
        "sample_index": sample.sample_index,
        "reasoning": sample.reasoning,
        "teacher_backend": sample.teacher_backend,
        "teacher_model": sample.teacher_model,
        "sampling_params": json.dumps(sample.sampling, sort_keys=True),
        "prompt_template": sample.prompt_template,
        "prompt_hash": sample.prompt_hash,
        "verdict_status": kept.status,
        "verdict_reason": kept.reason,
        "verifier": kept.verifier,
        "answer_found_by": kept.found_by,
        "finish_reason": sample.finish_reason,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "latency_s": sample.latency_s,
        "sample_key": kept.sample_key,
    }


REJECTED_SCHEMA = pa.schema(
    [
        *SCHEMA,
        (
            "drop_unit",
            pa.string(),
        ),  # the curation unit that dropped the sample: verifier, truncated, budget...
        ("drop_reason", pa.string()),  # its reason: wrong_answer, no_answer, truncated, duplicate...
        ("drop_detail", pa.string()),  # JSON: what the drop points at (the copy kept, the evaluation item...)
    ]
)


def to_rejected_row(
    sample: Sample, exclusion: Exclusion, problem: Problem, curation: ProblemCuration
) -> dict[str, Any]:
    """A dropped sample as a row of the `rejected` config: the train row's columns (the answer is what the
    verifier extracted) and why it was dropped."""
    verdict = KeptTrace(
        sample_key=exclusion.sample_key,
        sample_index=exclusion.sample_index,
        answer=exclusion.answer,
        found_by=None,
        status=exclusion.status or None,  # type: ignore[arg-type]  # unknown in journals before it was kept
        reason=exclusion.reason if exclusion.unit == VERIFIER_UNIT else None,  # type: ignore[arg-type]
        verifier=None,  # type: ignore[arg-type]
        teacher=exclusion.teacher,
    )
    return {
        **to_row(sample, verdict, problem, curation),
        "drop_unit": exclusion.unit,
        "drop_reason": exclusion.reason,
        "drop_detail": json.dumps(exclusion.detail, sort_keys=True) if exclusion.detail else None,
    }


PREFERENCE_SCHEMA = pa.schema(
    [
        ("prompt", _MESSAGES),  # TRL's conversational preference format: DPOTrainer reads it as it is
        ("chosen", _MESSAGES),
        ("rejected", _MESSAGES),
        ("problem_id", pa.string()),
        ("policy", pa.string()),  # random | shortest_longest | common_wrong
        ("chosen_answer", pa.string()),
        ("rejected_answer", pa.string()),
        ("chosen_sample_key", pa.string()),
        ("rejected_sample_key", pa.string()),
    ]
)


def to_pair(samples: dict[str, Sample], pair: PreferencePair, policy: str) -> dict[str, Any]:
    chosen, rejected = samples[pair.chosen.sample_key], samples[pair.rejected_key]
    return {
        "prompt": chosen.messages,
        "chosen": [{"role": "assistant", "content": chosen.trace_text()}],
        "rejected": [{"role": "assistant", "content": rejected.trace_text()}],
        "problem_id": pair.problem_id,
        "policy": policy,
        "chosen_answer": pair.chosen.answer,
        "rejected_answer": pair.rejected_answer,
        "chosen_sample_key": pair.chosen.sample_key,
        "rejected_sample_key": pair.rejected_key,
    }


class ShardWriter:
    """Rows go into the open shard as they arrive, converted to Arrow a batch at a time and written a row
    group at a time (`row_group_bytes`); a shard is closed before it would pass `max_shard_bytes`: Hugging
    Face's conventions (files under 500 MB, row groups near 100 MB), so the Hub's viewer and `datasets`
    stream them. Sizes are counted before compression, so the files come out smaller than the limits.

    A shard is written under a hidden temporary name and renamed into place once full or when the writer
    closes, so a reader never sees a torn Parquet file (a writer stopped by an error removes its temporary
    file as the `with` block ends; a killed one leaves it, and the next packaging removes it). No shard is
    written without rows: `datasets` fails on a Parquet file of 0 rows.

    `version` ends each file name (`train-00000-<version>.parquet`): `datasets` caches a folder loaded
    through its card by the folder's name and the card's file list, not by the files' contents, so a
    folder packaged again under the same names would load its old rows from the cache."""

    BATCH = 256  # rows converted to Arrow at a time: the size of a row is known once converted

    def __init__(
        self,
        shards_dir: Path,
        prefix: str,
        schema: pa.Schema,
        max_shard_bytes: int,
        row_group_bytes: int,
        compression: str,
        version: str = "",
    ) -> None:
        self._dir = shards_dir
        self._prefix = prefix
        self._version = f"-{version}" if version else ""
        self._schema = schema
        self._max_shard_bytes = max_shard_bytes
        self._row_group_bytes = row_group_bytes
        self._compression = None if compression == "none" else compression
        self._rows: list[dict[str, Any]] = []
        self._group: list[pa.Table] = []  # converted, not yet written
        self._group_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self.paths: list[Path] = []
        self.rows = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self.close()
        finally:
            self._drop_unfinished()

    def _drop_unfinished(self) -> None:
        """The shard in progress when writing stopped (a full disk, Ctrl-C), gone with its space; after a
        `close`, nothing."""
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.close()
            self._writer = None
        self._temporary().unlink(missing_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.rows += 1
        if len(self._rows) >= self.BATCH:
            self._convert()

    def close(self) -> None:
        self._convert()
        self._write_group()
        self._finish_shard()

    def _convert(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self._schema)
        self._rows = []
        # A batch bigger than what is left of a row group or a shard is split row by row.
        for row in range(table.num_rows) if table.nbytes > self._row_group_bytes else [None]:
            part = table if row is None else table.slice(row, 1)
            if self._shard_bytes + self._group_bytes + part.nbytes > self._max_shard_bytes:
                self._write_group()
                self._finish_shard()
            self._group.append(part)
            self._group_bytes += part.nbytes
            if self._group_bytes >= self._row_group_bytes:
                self._write_group()

    def _write_group(self) -> None:
        if not self._group:
            return
        table = pa.concat_tables(self._group)
        with disk_full(self._path()):
            if self._writer is None:
                self._dir.mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(
                    self._temporary(), self._schema, compression=self._compression
                )
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._shard_bytes += self._group_bytes
        self._group, self._group_bytes = [], 0

    def _finish_shard(self) -> None:
        if self._writer is None:
            return
        path = self._path()
        with disk_full(path):
            self._writer.close()
        self._writer = None
        os.replace(self._temporary(), path)
        self.paths.append(path)
        self._shard_bytes = 0

    def _path(self) -> Path:
        return self._dir / f"{self._prefix}-{len(self.paths):05d}{self._version}.parquet"

    def _temporary(self) -> Path:
        return self._dir / f".{self._prefix}-{len(self.paths):05d}.parquet.tmp"


@dataclass
class Tally:
    """Counts over every problem's curation and the packaging: what the summary prints, the manifest and the
    dataset card record. Saved beside the shards, so a re-run that packages nothing new reports the same."""

    problems_solved: int = 0  # with at least one kept trace
    samples: int = 0
    correct: int = 0
    kept: int = 0
    dropped: dict[str, Counter[str]] = field(default_factory=dict)  # unit → reason → samples
    gold_sources: Counter[str] = field(default_factory=Counter)  # given | majority → problems
    no_majority: int = 0  # problems without a gold whose samples reached no majority
    majority_disagrees: int = 0  # problems whose given gold the teacher's majority contradicts
    teachers: dict[str, Counter[str]] = field(default_factory=dict)  # teacher → samples, kept
    contamination: Counter[str] = field(default_factory=Counter)  # evaluation set → traces dropped
    round_trip: dict[str, Any] | None = None  # the student check's report (`package.student`)
    preference_pairs: int = 0
    rejected_rows: int = 0
    sample_row: dict[str, Any] | None = None  # the first train row, as the dataset card shows it

    def drop(self, unit: str, reason: str, teacher: str) -> None:
        self.dropped.setdefault(unit, Counter())[reason] += 1
        self.teachers.setdefault(teacher, Counter())["samples"] += 1

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it rebuilds a Counter from (key, value) pairs, counting the pairs.
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        tally = cls(**data)
        tally.dropped = {unit: Counter(reasons) for unit, reasons in tally.dropped.items()}
        tally.gold_sources = Counter(tally.gold_sources)
        tally.teachers = {name: Counter(counts) for name, counts in tally.teachers.items()}
        tally.contamination = Counter(tally.contamination)
        return tally


def _plain(value: Any) -> Any:
    return {key: _plain(item) for key, item in value.items()} if isinstance(value, dict) else value


BUDGET_UNIT = "budget"
TALLY_FILE = "package_tally.json"


@dataclass(slots=True)
class _Candidate:
    """A trace the curate stage kept, on its way to a shard: the corpus-wide units may still drop it."""

    trace: KeptTrace
    header: ProblemCuration  # its problem's curation, without the trace lists
    problem_rank: int  # the problem's place in the input order
    rank: int  # the trace's place in its problem's kept list (best first)
    drop: Exclusion | None = None
    length: int = 0  # the trace's characters


@dataclass
class CorpusUnits:
    """What judges the kept traces against the whole corpus at packaging (see `factory.corpus`)."""

    decontaminator: Any = None  # a filters.decontaminate.Decontaminator checking traces, or None
    dedup: list[tuple[str, Any]] = field(default_factory=list)
    round_trip: Callable[[], Any] | None = None  # loads a factory.roundtrip.RoundTrip when packaging runs
    round_trip_policy: str = "warn"


def package(
    run_dir: Path,
    problems: Sequence[Problem],
    scope_ids: Iterable[str],
    config: PackageConfig,
    budget: int | None,
    corpus: CorpusUnits,
    inputs: str,
) -> Tally:
    """Shards (`train`, and `preference` / `rejected` when asked for), `excluded.jsonl` and
    `problem_stats.jsonl` from the curation journal and the samples; the tally of it all. `inputs`
    fingerprints what decides them besides the journal (curate, corpus-unit and package configs). Written
    again only when one of these changed since the last time, each file atomically, so a killed packaging
    is simply redone by the next invocation."""
    curated_dir = run_dir / "curated"
    in_scope = set(scope_ids)
    parts = [(path.name, path.stat().st_size) for path in sorted(curated_dir.glob("part-*.jsonl"))]
    # The input order, not just the set: it decides which duplicate stays and where the budget's extra
    # rows go.
    order = [problem.id for problem in problems if problem.id in in_scope]
    inputs = fingerprint(inputs, dataclasses.asdict(config), budget, parts, order)
    markers = StageMarkers(run_dir)
    tally_path = run_dir / "stages" / TALLY_FILE
    # The files made are part of the marker: one removed or renamed since (by hand) is made again.
    if markers.is_done("shards", fingerprint(inputs, _outputs(run_dir))) and tally_path.exists():
        return Tally.from_dict(json.loads(tally_path.read_text()))
    for leftover in [*run_dir.glob(".*.tmp"), *run_dir.glob("shards/.*.tmp")]:  # a killed invocation's
        leftover.unlink()
    problem_rank = {pid: rank for rank, pid in enumerate(order)}
    by_id = {problem.id: problem for problem in problems}
    tally = Tally()
    candidates: dict[str, _Candidate] = {}
    wrong: dict[str, list[Exclusion]] = {}  # problem → its wrong traces (for preference pairs)
    rejected: dict[str, tuple[Exclusion, ProblemCuration]] = {}  # sample key → why it was dropped
    stats: dict[str, dict[str, Any]] = {}
    pairs_wrong = config.preference is not None and config.preference.policy != "shortest_longest"
    with atomic_open(run_dir / "excluded.jsonl") as exclusions:
        for curation in read_curated(curated_dir, in_scope):
            header = dataclasses.replace(curation, kept=[], excluded=[])
            _count_problem(tally, curation, stats)
            for exclusion in curation.excluded:
                _exclude(tally, exclusions, curation.problem_id, exclusion)
                if config.rejected:
                    rejected[exclusion.sample_key] = (dataclasses.replace(exclusion, trace=""), header)
                if pairs_wrong and exclusion.unit == VERIFIER_UNIT and exclusion.reason == "wrong_answer":
                    wrong.setdefault(curation.problem_id, []).append(dataclasses.replace(exclusion, trace=""))
            for rank, trace in enumerate(curation.kept):
                candidates[trace.sample_key] = _Candidate(
                    trace, header, problem_rank[curation.problem_id], rank
                )
        positions = sorted(candidates, key=lambda key: (candidates[key].problem_rank, candidates[key].rank))
        _screen(run_dir, candidates, positions, corpus, tally, need_lengths=config.preference is not None)
        survivors: dict[str, list[_Candidate]] = {}
        for key in positions:
            candidate = candidates[key]
            if candidate.drop is None:
                survivors.setdefault(candidate.header.problem_id, []).append(candidate)
        quotas = {}
        if budget is not None:  # each problem's quota depends on every problem's kept count
            counts = [len(survivors.get(pid, [])) for pid in order]
            quotas = dict(zip(order, fair_quotas(counts, budget), strict=True))
        for pid, kept in survivors.items():
            for candidate in kept[quotas.get(pid, len(kept)) :]:
                trace = candidate.trace
                candidate.drop = _package_drop(trace, BUDGET_UNIT, "over_budget", None)
        for key in positions:
            candidate = candidates[key]
            pid = candidate.header.problem_id
            if candidate.drop is None:
                tally.teachers.setdefault(candidate.trace.teacher, Counter()).update(("samples", "kept"))
                tally.kept += 1
                stats[pid]["kept"] += 1
            else:
                _exclude(tally, exclusions, pid, candidate.drop)
                if config.rejected and candidate.drop.unit != DECONTAMINATE_UNIT:
                    rejected[key] = (candidate.drop, candidate.header)
                del candidates[key]  # written: from here on `candidates` holds the rows to write
    tally.problems_solved = sum(bool(stat["kept"]) for stat in stats.values())
    pairs = (
        _preference_pairs(order, survivors, wrong, config.preference) if config.preference is not None else []
    )
    # What the rows are made of, so the files' names change exactly when their contents do.
    version = fingerprint(
        dataclasses.asdict(config),
        [
            (dataclasses.astuple(c.trace), c.header.gold, c.header.gold_source, c.header.vote_share)
            for c in (candidates[key] for key in positions if key in candidates)
        ],
        [(pair.chosen.sample_key, pair.rejected_key) for pair in pairs],
        sorted(
            (key, json.dumps(exclusion.to_dict(), sort_keys=True)) for key, (exclusion, _) in rejected.items()
        ),
    )[:8]
    _write_shards(run_dir, by_id, candidates, pairs, rejected, config, tally, version)
    write_jsonl(
        run_dir / "problem_stats.jsonl",
        ({"problem_id": pid, **stats.get(pid, {"samples": 0, "kept": 0})} for pid in order),
    )
    write_json(tally_path, tally.to_dict())
    markers.mark_done("shards", fingerprint(inputs, _outputs(run_dir)))
    return tally


def _count_problem(tally: Tally, curation: ProblemCuration, stats: dict[str, dict[str, Any]]) -> None:
    tally.samples += curation.drawn
    tally.correct += curation.correct
    tally.gold_sources[curation.gold_source] += 1
    tally.majority_disagrees += curation.majority_disagrees
    tally.no_majority += curation.gold_source == "majority" and curation.majority is None
    stats[curation.problem_id] = {
        "samples": curation.drawn,
        "correct": curation.correct,
        "kept": 0,  # counted once the corpus-wide units and the budget have had their say
        "pass_rate": round(curation.correct / curation.drawn, 4) if curation.drawn else None,
        "gold_source": curation.gold_source,
        "majority": curation.majority,
        "vote_share": curation.vote_share,
        "majority_disagrees": curation.majority_disagrees,
    }


def _exclude(tally: Tally, handle: IO[str], problem_id: str, exclusion: Exclusion) -> None:
    tally.drop(exclusion.unit, exclusion.reason, exclusion.teacher)
    write_exclusion(handle, problem_id, exclusion)


def _screen(
    run_dir: Path,
    candidates: dict[str, _Candidate],
    positions: list[str],
    corpus: CorpusUnits,
    tally: Tally,
    need_lengths: bool,
) -> None:
    """The corpus-wide units over the kept traces, each trace in turn: decontamination, the student's
    round-trip check, then dedup across all of them (the copy earliest in problem order stays)."""
    finder = DuplicateFinder(corpus.dedup, len(positions), "traces")
    round_trip = corpus.round_trip() if corpus.round_trip is not None else None
    if corpus.decontaminator is None and round_trip is None and not finder.active and not need_lengths:
        return
    report = round_trip.report(corpus.round_trip_policy) if round_trip is not None else None
    position_of = {key: position for position, key in enumerate(positions)}
    for key, sample in read_keyed_samples(run_dir / "samples"):
        candidate = candidates.get(key)
        if candidate is None:
            continue
        text = sample.trace_text()
        candidate.length = len(text)  # characters: teachers without token counts compare with the others
        trace = candidate.trace
        if corpus.decontaminator is not None:
            match = corpus.decontaminator.match(text, fuzzy=False)
            if match is not None:
                candidate.drop = _package_drop(trace, DECONTAMINATE_UNIT, "contaminated", match.to_dict())
                tally.contamination[match.item.set_path] += 1
                continue
        if round_trip is not None:
            check = round_trip.check(sample.messages, [{"role": "assistant", "content": text}])
            report.add(check)
            if check.reason is not None and corpus.round_trip_policy == "drop":
                candidate.drop = _package_drop(trace, ROUND_TRIP_UNIT, check.reason, {"tokens": check.tokens})
                continue
        if finder.active:
            finder.add(position_of[key], text)
    if report is not None:
        tally.round_trip = report.to_dict()
        if corpus.round_trip_policy == "fail" and (message := report.message()):
            raise FactoryError(f"package.student: {message}")
    for position, duplicate in sorted(finder.duplicates().items()):
        kept = candidates[positions[duplicate.kept]]
        candidates[positions[position]].drop = _package_drop(
            candidates[positions[position]].trace,
            dedup_unit_name(duplicate.unit),
            duplicate.reason,
            {
                "kept_sample_key": kept.trace.sample_key,
                "kept_problem_id": kept.header.problem_id,
                "kept_sample_index": kept.trace.sample_index,
            },
        )


ROUND_TRIP_UNIT = "round_trip"


def _package_drop(trace: KeptTrace, unit: str, reason: str, detail: dict[str, Any] | None) -> Exclusion:
    return Exclusion(
        trace.sample_key,
        trace.sample_index,
        unit,
        reason,
        trace.answer,
        "",
        trace.teacher,
        detail,
        trace.status,
    )


@dataclass(frozen=True, slots=True)
class PreferencePair:
    problem_id: str
    chosen: KeptTrace
    rejected_key: str
    rejected_answer: str | None


def _preference_pairs(
    order: list[str],
    survivors: dict[str, list[_Candidate]],
    wrong: dict[str, list[Exclusion]],
    config: PreferenceConfig,
) -> list[PreferencePair]:
    """At most one pair per problem, in problem order.
    The chosen trace is one the curation kept (before the budget); the rejected one a wrong trace of the same
    problem, or (`shortest_longest`) the longest kept one."""
    pairs = []
    for pid in order:
        kept, mistakes = survivors.get(pid, []), wrong.get(pid, [])
        if config.policy == "shortest_longest":
            if len(kept) < 2:
                continue
            chosen = min(kept, key=lambda c: (c.length, c.rank))
            rejected = max(kept, key=lambda c: (c.length, -c.rank))
            if chosen is not rejected:
                pairs.append(
                    PreferencePair(pid, chosen.trace, rejected.trace.sample_key, rejected.trace.answer)
                )
            continue
        if not kept or not mistakes:
            continue
        if config.policy == "random":
            rng = random.Random(f"{config.seed}:{pid}")  # the same pair on every machine and re-run
            mistake = rng.choice(mistakes)
            pairs.append(PreferencePair(pid, rng.choice(kept).trace, mistake.sample_key, mistake.answer))
        else:  # common_wrong: the best kept trace against the wrong answer the teacher gives most often
            answers = Counter(_answer_text(mistake.answer) for mistake in mistakes)
            common = max(answers.values())
            mistake = next(m for m in mistakes if answers[_answer_text(m.answer)] == common)
            pairs.append(PreferencePair(pid, kept[0].trace, mistake.sample_key, mistake.answer))
    return pairs


def _answer_text(answer: str | None) -> str:
    return " ".join((answer or "").split())


def _write_shards(
    run_dir: Path,
    by_id: dict[str, Problem],
    candidates: dict[str, _Candidate],
    pairs: list[PreferencePair],
    rejected: dict[str, tuple[Exclusion, ProblemCuration]],
    config: PackageConfig,
    tally: Tally,
    version: str,
) -> None:
    """One pass over the samples writes the rows of each config; a preference pair waits for both texts."""
    shards_dir = run_dir / "shards"
    before = set(shards_dir.glob("*.parquet"))

    def writer(prefix: str, schema: pa.Schema) -> ShardWriter:
        return ShardWriter(
            shards_dir,
            prefix,
            schema,
            config.max_shard_bytes,
            config.row_group_bytes,
            config.compression,
            version,
        )

    in_pairs = {key for pair in pairs for key in (pair.chosen.sample_key, pair.rejected_key)}
    texts: dict[str, Sample] = {}
    with contextlib.ExitStack() as writers:
        train = writers.enter_context(writer("train", SCHEMA))
        rejects = writers.enter_context(writer("rejected", REJECTED_SCHEMA)) if config.rejected else None
        for key, sample in read_keyed_samples(run_dir / "samples"):
            candidate = candidates.get(key)
            if candidate is not None:
                row = to_row(sample, candidate.trace, by_id[sample.problem_id], candidate.header)
                if tally.sample_row is None:
                    tally.sample_row = card_sample(row)
                train.add(row)
            elif rejects is not None and key in rejected:
                exclusion, header = rejected[key]
                rejects.add(to_rejected_row(sample, exclusion, by_id[sample.problem_id], header))
            if key in in_pairs:
                texts[key] = sample
    if rejects is not None:
        tally.rejected_rows = rejects.rows
    written = set(train.paths)
    if config.preference is not None:
        with writer("preference", PREFERENCE_SCHEMA) as preference:
            for pair in pairs:
                if pair.chosen.sample_key in texts and pair.rejected_key in texts:
                    preference.add(to_pair(texts, pair, config.preference.policy))
        tally.preference_pairs = preference.rows
        written.update(preference.paths)
    if rejects is not None:
        written.update(rejects.paths)
    # The old files go once the new ones are in place: a packaging killed before this leaves the last
    # card's files loadable (the card is rewritten after packaging).
    for old in before - written:
        old.unlink()


def _outputs(run_dir: Path) -> list[tuple[str, int]]:
    paths = [
        *sorted((run_dir / "shards").glob("*.parquet")),
        run_dir / "excluded.jsonl",
        run_dir / "problem_stats.jsonl",
        run_dir / "stages" / TALLY_FILE,
    ]
    return [(path.name, path.stat().st_size) for path in paths if path.exists()]


def write_exclusion(handle: IO[str], problem_id: str, exclusion: Exclusion) -> None:
    handle.write(json.dumps({"problem_id": problem_id, **exclusion.to_dict()}, ensure_ascii=False) + "\n")
