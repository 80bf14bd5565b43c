"""Stage 3: samples → verdicts. Each sample passes through small filters in order; the first that drops it
gives the reason. The run, not the filters, counts what was kept and dropped by reason, from the verdicts.

When a model judge is configured, the samples the rules cannot tell (and did not drop as truncated) go to
it, and its ruling replaces their verdict; the rule's reason stays on the verdict as `rule_reason`."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping

from factory.config import RejectConfig
from factory.judge import ModelJudge, Question
from factory.records import Problem, Sample, SampleVerdict
from filters import Status, VerifyConfig, verify_many

CHUNK_SAMPLES = 64


def teacher_name(sample: Sample) -> str:
    return f"{sample.teacher_backend}:{sample.teacher_model}"


class TruncationFilter:
    """Drops samples the engine cut off at max_tokens: their reasoning never finished."""

    def drop_reason(self, sample: Sample) -> str | None:
        return "truncated" if sample.finish_reason == "length" else None


def verdicts_for(
    samples: Iterable[Sample],
    problems: Mapping[str, Problem],
    config: RejectConfig,
    judge: ModelJudge | None = None,
) -> Iterator[SampleVerdict]:
    """Each sample's verdict, in input order: by the rules, and by `judge` for what the rules cannot tell."""
    truncation = None if config.keep_truncated else TruncationFilter()
    verify_config = VerifyConfig(
        tuple(config.answer_patterns), config.timeout_s, config.rel_tol, extraction=config.extraction
    )
    samples = iter(samples)
    # Verified a chunk at a time, so symbolic checks run on every worker at once (and judge requests too).
    while chunk := list(itertools.islice(samples, CHUNK_SAMPLES)):
        pairs = [(problems[sample.problem_id].answer, sample.text) for sample in chunk]
        verdicts: list[SampleVerdict] = []
        undecided: list[int] = []  # positions in the chunk that the rules cannot tell
        for sample, verdict in zip(
            chunk, verify_many(pairs, verify_config, workers=config.workers), strict=True
        ):
            dropped = truncation.drop_reason(sample) if truncation else None
            if dropped is None and verdict.status is Status.CANNOT_TELL:
                undecided.append(len(verdicts))
            reason = dropped or (None if verdict.correct else verdict.reason)
            kept = reason is None
            verdicts.append(
                SampleVerdict(
                    problem_id=sample.problem_id,
                    sample_index=sample.sample_index,
                    status=str(verdict.status),
                    reason=verdict.reason if kept else reason,  # type: ignore[arg-type]
                    kept=kept,
                    extracted=verdict.answer,
                    found_by=verdict.found_by,
                    gold=problems[sample.problem_id].answer,
                    verifier=verdict.verifier,
                    sample_key=sample.key(),
                    teacher=teacher_name(sample),
                )
            )
        if judge is not None and undecided:
            _ask_judge(judge, verdicts, undecided, chunk, problems)
        yield from verdicts


def _ask_judge(
    judge: ModelJudge,
    verdicts: list[SampleVerdict],
    undecided: list[int],
    samples: list[Sample],
    problems: Mapping[str, Problem],
) -> None:
    """Replace the verdicts at `undecided` with the judge's, keeping why the rules could not tell."""
    questions = [
        Question(problems[samples[at].problem_id].problem, verdicts[at].gold, samples[at].text)
        for at in undecided
    ]
    for at, ruling in zip(undecided, judge.rule(questions), strict=True):
        verdicts[at] = dataclasses.replace(
            verdicts[at],
            status=ruling.status,
            reason=ruling.reason,
            kept=ruling.status == Status.CORRECT,
            verifier=judge.name,
            rule_reason=verdicts[at].reason,
            judge_prompt_hash=judge.template.hash,
            judge_reply=ruling.reply,
        )
