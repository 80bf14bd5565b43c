"""`factory eval`: score a model on a problem set with the prompts and the verifier of `factory run`.

Each part of an eval is an ordinary run folder under `eval_dir`, made by `factory.job.run` with the model
under test as the teacher, so an interrupted eval continues exactly once, as a run does:

    eval_dir/
      greedy/         one greedy draw per problem (temperature 0): greedy accuracy
      sampled/        `sampling.n` draws per problem: pass@k (unbiased estimator) and maj@k
      problems.jsonl  one row per problem: its answers, what was correct, its pass@k, tokens, fidelity
      results.json    the metrics with bootstrap intervals, broken down by source and difficulty

Intervals are percentile bootstraps over problems (`eval.bootstrap` resamples, seeded). `paired` compares
two evals of the same problems (a student before and after training), resampling the problems once for
both, which is what makes a small difference measurable.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.config import CurateConfig, EvalConfig, PackageConfig, RunConfig, SamplingConfig
from factory.errors import FactoryError
from factory.golds import CONFIG_SETTING, UNPARSEABLE_GOLD, GoldTally, unparseable_hint
from factory.ledger import Scope, read_keyed_samples, read_verdicts
from factory.pipeline import LazyTeacher
from factory.problems import read_problems, unread_golds
from factory.records import Problem, Sample, SampleVerdict
from factory.reject import verify_config
from factory.storage import write_json, write_jsonl
from factory.teachers import Log, Teacher, make_teacher
from filters import check_answer
from filters.majority import Vote, majority_vote

RESULTS_FORMAT = "factory-eval/1"
RESULTS_FILE = "results.json"
PROBLEMS_FILE = "problems.jsonl"
GREEDY, SAMPLED = "greedy", "sampled"


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n draws of which c are correct (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), as a product so that large n does not overflow.

    >>> pass_at_k(8, 1, 1), pass_at_k(8, 0, 4), pass_at_k(4, 1, 4)
    (0.125, 0.0, 1.0)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": round(self.value, 6), "low": round(self.low, 6), "high": round(self.high, 6)}

    def __str__(self) -> str:
        return f"{self.value:6.1%} [{self.low:.1%}, {self.high:.1%}]"


def bootstrap(values: Sequence[float], resamples: int, confidence: float, seed: int) -> Interval:
    """The mean of `values` (one per problem) with a percentile bootstrap interval."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(0.0, 0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(data.mean()), float(low), float(high))


def paired(
    after: Sequence[float], before: Sequence[float], resamples: int, confidence: float, seed: int
) -> Interval:
    """The mean difference after − before over the same problems, with a paired bootstrap interval."""
    if len(after) != len(before):
        raise ValueError(f"paired needs the same problems: {len(after)} against {len(before)}")
    return bootstrap([a - b for a, b in zip(after, before, strict=True)], resamples, confidence, seed)


@dataclass
class ProblemScore:
    """One problem's row of `problems.jsonl`."""

    problem_id: str
    groups: dict[str, str]  # breakdown → this problem's value (source, difficulty...)
    gold: str
    greedy_answer: str | None = None
    greedy_correct: bool | None = None
    greedy_tokens: int | None = None
    greedy_finish: str | None = None
    draws: int = 0
    correct: int = 0
    answers: list[str | None] = field(default_factory=list)  # the draws' answers, in index order
    pass_at: dict[str, float] = field(default_factory=dict)  # "pass@k" → estimate
    maj_at: dict[str, bool] = field(default_factory=dict)  # "maj@k" → the majority of k draws is right
    sampled_tokens: list[int] = field(default_factory=list)
    sampled_finish: list[str | None] = field(default_factory=list)
    teacher_majority: str | None = None  # fidelity: the reference run's majority answer
    teacher_right: bool | None = None
    agrees: bool | None = None  # the answer under test equals the teacher's majority

    def metrics(self) -> dict[str, float]:
        values: dict[str, float] = {}
        if self.greedy_correct is not None:
            values["greedy_accuracy"] = float(self.greedy_correct)
        values.update(self.pass_at)
        values.update({name: float(right) for name, right in self.maj_at.items()})
        return values

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluate(
    config: EvalConfig, log: Log, start_model: Callable[[], Teacher] | None = None
) -> dict[str, Any]:
    """Run the parts of the eval (each resumable), then score them into `results.json` and `problems.jsonl`.
    `start_model` overrides the configured backend (tests lend a scripted one)."""
    from factory.job import run

    eval_dir = Path(config.eval_dir)
    # One engine for both parts, started on first use (a finished eval starts none), closed at the end.
    engine = LazyTeacher(start_model or (lambda: make_teacher(config.model, config.sampling, log)))
    try:
        for part in _parts(config):
            log(f"eval {part}: {_part_sampling(config, part).n} draw(s) per problem in {eval_dir / part}")
            run(part_config(config, part), log, start_teacher=lambda: _Lent(engine.get()))
    finally:
        engine.close()
    return score(config)


def part_config(config: EvalConfig, part: str) -> RunConfig:
    """One part as a run: the model under test as the teacher; every correct draw kept, so the part's
    shards hold the correct traces (curation is not what is measured)."""
    return RunConfig(
        run_dir=str(Path(config.eval_dir) / part),
        problems=config.problems,
        prompt=config.prompt,
        teacher=config.model,
        sampling=_part_sampling(config, part),
        reject=config.reject,
        curate=CurateConfig(filters=[], select=["all"], dedup=[]),
        package=PackageConfig(),
    )


def score(config: EvalConfig) -> dict[str, Any]:
    """The metrics of the parts on disk: each problem's row, then the means with their intervals."""
    settings = config.eval
    problems = list(read_problems(config.problems, without_answer=False))
    rows = {problem.id: _new_row(problem, settings.breakdowns) for problem in problems}
    verify = verify_config(config.reject)
    golds = unread_golds(problems, config.problems)
    verdicts = Counter[str]()  # every draw's, by reason: golds that could not be read as answers show here

    def same(first: str, second: str) -> bool:
        return check_answer(first, second, verify, workers=config.reject.workers).correct

    for part in _parts(config):
        draws = _part_sampling(config, part).n
        found = _read_part(Path(config.eval_dir) / part, problems, draws)
        missing = [pid for pid in rows if len(found.get(pid, [])) < draws]
        if missing:
            raise FactoryError(
                f"{config.eval_dir}/{part}: {len(missing)} problem(s) lack draws (first: {missing[0]}); "
                "run `factory eval` again to finish them"
            )
        for pid, draws_of in found.items():
            verdicts.update(draw.verdict.reason for draw in draws_of)
            if part == GREEDY:
                _score_greedy(rows[pid], draws_of[0])
            else:
                _score_sampled(rows[pid], draws_of, settings.k, same)
    fidelity = None
    if settings.reference is not None:
        fidelity = _fidelity(config, problems, rows, same)
    results = _results(config, list(rows.values()), fidelity)
    results["golds"] = {
        **dataclasses.asdict(golds),
        "draws": verdicts.total(),
        "unparseable_draws": verdicts[UNPARSEABLE_GOLD],
    }
    eval_dir = Path(config.eval_dir)
    write_jsonl(eval_dir / PROBLEMS_FILE, (row.to_dict() for row in rows.values()))
    write_json(eval_dir / RESULTS_FILE, results)
    return results


def load_results(eval_dir: str | Path) -> dict[str, Any]:
    """An eval's `results.json`, or a one-line error naming the file and saying how to make it."""
    path = Path(eval_dir) / RESULTS_FILE
    if not path.is_file():
        raise FactoryError(f"{path}: not found; run `factory eval CONFIG` first")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise FactoryError(
            f"{path}: not JSON ({error.msg}, line {error.lineno}); run `factory eval CONFIG` again"
        ) from None
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        found = results.get("format") if isinstance(results, dict) else type(results).__name__
        raise FactoryError(
            f"{path}: format is {found!r}, expected {RESULTS_FORMAT!r}; run `factory eval CONFIG` again"
        )
    return results


def load_scores(eval_dir: str | Path) -> dict[str, ProblemScore]:
    """An eval's `problems.jsonl` rows by problem id (what `paired` compares)."""
    path = Path(eval_dir) / PROBLEMS_FILE
    load_results(eval_dir)  # the rows are only as complete as the results written with them
    rows = (ProblemScore(**json.loads(line)) for line in path.read_text().splitlines())
    return {row.problem_id: row for row in rows}


def lines(results: dict[str, Any]) -> list[str]:
    """The results as the terminal shows them."""
    out = [f"eval       {results['label']}: {results['problems']} problems"]
    if "golds" in results:  # results scored before golds were read by `problems.gold` have none
        golds = results["golds"]
        read = GoldTally(golds["mode"], golds["unread"], golds["unread_ids"])
        out += read.lines(results["problems"], CONFIG_SETTING)
        out += unparseable_hint(
            golds["unparseable_draws"], golds["draws"], "draws' golds", read.mode, CONFIG_SETTING
        )
    out += [f"{name:<16} {_interval(value)}" for name, value in results["metrics"].items()]
    for breakdown in results["breakdowns"]:
        for group, entry in results[f"by_{breakdown}"].items():
            shown = ", ".join(f"{name} {_interval(v)}" for name, v in entry["metrics"].items())
            out.append(f"  {breakdown}={group} ({entry['problems']}): {shown}")
    tokens = ", ".join(f"{part} {mean:.0f}" for part, mean in results["output_tokens"].items())
    out.append(f"tokens     mean output: {tokens}")
    for part, reasons in results["finish_reasons"].items():
        out.append(f"finish     {part}: " + ", ".join(f"{r} {c}" for r, c in sorted(reasons.items())))
    if results.get("fidelity"):
        fid = results["fidelity"]
        out.append(f"fidelity   agrees with {fid['reference']}'s majority: {_interval(fid['agree'])}")
        for side in ("teacher_right", "teacher_wrong"):
            entry = fid[side]
            out.append(f"  {side} ({entry['problems']}): {_interval(entry['agree'])}")
    return out


def compare_lines(eval_dirs: Sequence[str | Path]) -> list[str]:
    """Evals of the same problems side by side: each metric with its interval, then every pair's paired
    difference (later − earlier) with its interval. The first is usually the model before training."""
    results = [load_results(eval_dir) for eval_dir in eval_dirs]
    scores = [load_scores(eval_dir) for eval_dir in eval_dirs]
    ids = sorted(set.intersection(*(set(rows) for rows in scores)))
    if not ids:
        raise FactoryError("compare: the evals share no problem; evaluate them on the same problem set")
    names = [name for name in results[0]["metrics"] if all(name in r["metrics"] for r in results)]
    settings = results[0]
    width = max(len(r["label"]) for r in results)
    out = [f"{'':<{width}}  " + "  ".join(f"{name:<24}" for name in names)]
    out += [
        f"{r['label']:<{width}}  " + "  ".join(f"{_interval(r['metrics'][n]):<24}" for n in names)
        for r in results
    ]
    out.append(f"paired differences over the {len(ids)} problems they share (later minus earlier):")
    for later in range(1, len(results)):
        for earlier in range(later):
            cells = []
            for name in names:
                values = [
                    [rows[pid].metrics()[name] for pid in ids] for rows in (scores[later], scores[earlier])
                ]
                diff = paired(*values, settings["bootstrap"], settings["confidence"], seed=0)
                cells.append(
                    f"{name} {diff.value * 100:+.1f} pts [{diff.low * 100:+.1f}, {diff.high * 100:+.1f}]"
                )
            out.append(f"  {results[later]['label']} - {results[earlier]['label']}: " + "; ".join(cells))
    return out


# --- parts ---------------------------------------------------------------------------------------------


def _parts(config: EvalConfig) -> list[str]:
    return [part for part, wanted in ((GREEDY, config.eval.greedy), (SAMPLED, bool(config.eval.k))) if wanted]


def _part_sampling(config: EvalConfig, part: str) -> SamplingConfig:
    if part == SAMPLED:
        return config.sampling
    # Greedy: one draw at temperature 0 (top_p 1, so nothing truncates the argmax), same length and stops.
    return dataclasses.replace(config.sampling, n=1, temperature=0.0, top_p=1.0)


class _Lent:
    """A teacher a run may close without stopping it: the next part uses the same engine."""

    def __init__(self, teacher: Teacher) -> None:
        self._teacher = teacher
        self.backend, self.model = teacher.backend, teacher.model

    def stream(self, source: Any, template: Any, sampling: SamplingConfig) -> Any:
        return self._teacher.stream(source, template, sampling)

    @property
    def faults(self) -> Any:  # a remote model's failed tries, counted in each part's summary
        return getattr(self._teacher, "faults", Counter())

    def close(self) -> None:
        pass


@dataclass
class _Draw:
    sample: Sample
    verdict: SampleVerdict


def _read_part(run_dir: Path, problems: Sequence[Problem], draws: int) -> dict[str, list[_Draw]]:
    """Each problem's first `draws` draws with their verdicts, in index order."""
    scope = Scope.of(problems, draws)
    verdicts = {verdict.sample_key: verdict for verdict in read_verdicts(run_dir / "verdicts", scope)}
    found: dict[str, dict[int, _Draw]] = {}
    for key, sample in read_keyed_samples(run_dir / "samples"):
        verdict = verdicts.get(key)
        if verdict is not None and scope.uses(sample.problem_id, sample.sample_index):
            found.setdefault(sample.problem_id, {})[sample.sample_index] = _Draw(sample, verdict)
    return {pid: [by_index[i] for i in sorted(by_index)] for pid, by_index in found.items()}


# --- scoring -------------------------------------------------------------------------------------------


def _new_row(problem: Problem, breakdowns: Iterable[str]) -> ProblemScore:
    groups = {}
    for name in breakdowns:
        value = problem.meta.get(name)
        if value is None and name == "source":  # no source field: the file the problem came from
            value = Path(problem.source.rsplit(":", 1)[0]).name
        if value is not None:
            groups[name] = str(value)
    return ProblemScore(problem.id, groups, problem.answer)


def _score_greedy(row: ProblemScore, draw: _Draw) -> None:
    row.greedy_answer = draw.verdict.extracted
    row.greedy_correct = draw.verdict.correct
    row.greedy_tokens = draw.sample.completion_tokens
    row.greedy_finish = draw.sample.finish_reason


def _score_sampled(
    row: ProblemScore, draws: list[_Draw], ks: list[int], same: Callable[[str, str], bool]
) -> None:
    row.draws = len(draws)
    row.correct = sum(draw.verdict.correct for draw in draws)
    row.answers = [draw.verdict.extracted for draw in draws]
    row.sampled_tokens = [draw.sample.completion_tokens or 0 for draw in draws]
    row.sampled_finish = [draw.sample.finish_reason for draw in draws]
    for k in ks:
        row.pass_at[f"pass@{k}"] = pass_at_k(row.draws, row.correct, k)
        row.maj_at[f"maj@{k}"] = _majority_right(draws[:k], same)


def _majority_right(draws: list[_Draw], same: Callable[[str, str], bool]) -> bool:
    """Whether the most common answer of `draws` (by the verifier's equivalence) is correct; a tie for the
    most common answer counts as no majority, so as wrong."""
    vote = _plurality([d.verdict.extracted for d in draws], same)
    if vote.answer is None:
        return False
    return any(d.verdict.correct for d in draws if d.verdict.extracted == vote.answer)


def _fidelity(
    config: EvalConfig,
    problems: list[Problem],
    rows: dict[str, ProblemScore],
    same: Callable[[str, str], bool],
) -> dict[str, Any]:
    """How often the answer under test (greedy, else the majority of the draws) equals the reference run's
    majority answer, over the problems where the reference has one; split by whether it was right."""
    reference = Path(config.eval.reference or "")
    if not (reference / "verdicts").is_dir():
        raise FactoryError(
            f"eval.reference: {reference} is not a run folder with verdicts; give the run folder of the "
            "teacher's `factory run` on these problems"
        )
    scope = Scope.of(problems, 1 << 30)
    by_problem: dict[str, dict[str, SampleVerdict]] = {}
    for verdict in read_verdicts(reference / "verdicts", scope):
        by_problem.setdefault(verdict.problem_id, {})[verdict.sample_key] = verdict
    for pid, row in rows.items():
        verdicts = sorted(by_problem.get(pid, {}).values(), key=lambda v: v.sample_index)
        vote = _plurality([v.extracted for v in verdicts], same)
        if vote.answer is None:
            continue  # no answer or a tie: nothing to agree with
        row.teacher_majority = vote.answer
        row.teacher_right = any(v.correct for v in verdicts if v.extracted == vote.answer)
        answer = row.greedy_answer if config.eval.greedy else _majority_answer(row, same)
        row.agrees = answer is not None and same(vote.answer, answer)
    settings = config.eval

    def agreement(selected: list[ProblemScore]) -> dict[str, Any]:
        values = [float(bool(row.agrees)) for row in selected]
        interval = bootstrap(values, settings.bootstrap, settings.confidence, settings.seed)
        return {"problems": len(selected), "agree": interval.to_dict()}

    compared = [row for row in rows.values() if row.teacher_majority is not None]
    return {
        "reference": str(reference),
        "answer": "greedy" if settings.greedy else f"maj@{config.sampling.n}",
        "without_majority": len(rows) - len(compared),
        **agreement(compared),
        "teacher_right": agreement([row for row in compared if row.teacher_right]),
        "teacher_wrong": agreement([row for row in compared if not row.teacher_right]),
    }


def _majority_answer(row: ProblemScore, same: Callable[[str, str], bool]) -> str | None:
    return _plurality(row.answers, same).answer


def _plurality(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> Vote:
    """The most common answer (by the verifier's equivalence), however small its share; None on a tie."""
    return majority_vote(answers, same, min_share=1e-9, min_votes=1)


def _results(config: EvalConfig, rows: list[ProblemScore], fidelity: dict[str, Any] | None) -> dict[str, Any]:
    settings = config.eval

    def metrics(selected: list[ProblemScore]) -> dict[str, Any]:
        per_problem = [row.metrics() for row in selected]
        names = list(per_problem[0]) if per_problem else []
        return {
            name: bootstrap(
                [values[name] for values in per_problem],
                settings.bootstrap,
                settings.confidence,
                settings.seed,
            ).to_dict()
            for name in names
        }

    breakdowns: dict[str, dict[str, Any]] = {}
    for name in settings.breakdowns:
        groups: dict[str, list[ProblemScore]] = {}
        for row in rows:
            if name in row.groups:
                groups.setdefault(row.groups[name], []).append(row)
        if len(groups) > 1:  # one group says nothing the overall line does not
            breakdowns[name] = {
                group: {"problems": len(members), "metrics": metrics(members)}
                for group, members in sorted(groups.items())
            }
    tokens: dict[str, float] = {}
    finish: dict[str, dict[str, int]] = {}
    if settings.greedy:
        tokens[GREEDY] = _mean(row.greedy_tokens or 0 for row in rows)
        finish[GREEDY] = dict(Counter(str(row.greedy_finish) for row in rows))
    if settings.k:
        tokens[SAMPLED] = _mean(t for row in rows for t in row.sampled_tokens)
        finish[SAMPLED] = dict(Counter(str(f) for row in rows for f in row.sampled_finish))
    return {
        "format": RESULTS_FORMAT,
        "label": settings.label or config.model.model,
        "model": config.model.model,
        "eval_dir": config.eval_dir,
        "problems": len(rows),
        "n": config.sampling.n if settings.k else 0,
        "k": list(settings.k),
        "greedy": settings.greedy,
        "confidence": settings.confidence,
        "bootstrap": settings.bootstrap,
        "metrics": metrics(rows),
        "breakdowns": list(breakdowns),
        **{f"by_{name}": groups for name, groups in breakdowns.items()},
        "output_tokens": {part: round(mean, 1) for part, mean in tokens.items()},
        "finish_reasons": finish,
        "fidelity": fidelity,
    }


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _interval(entry: dict[str, float]) -> str:
    return str(Interval(entry["value"], entry["low"], entry["high"]))
