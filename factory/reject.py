"""The verify stage: samples → verdicts. A verdict is the verifier's outcome only (correct, incorrect or
cannot tell, with the reason); whether a sample ships is decided after it, by the curate stage.

When a model judge is configured, the samples the rules cannot tell go to it, and its ruling replaces their
verdict; the rule's reason stays on the verdict as `rule_reason`. Samples the engine cut off at max_tokens
are not sent: their reasoning never finished, and a judge's fee would buy nothing.

With `reject.majority`, a problem's samples also vote on its answer (`majority_gold`): the majority answer
is the gold of a problem that came without one, and is compared with a given gold to flag disagreements."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from factory.config import RejectConfig
from factory.judge import ModelJudge, Question
from factory.records import Problem, Sample, SampleVerdict
from filters import Status, VerifyConfig, check_answer, find_answer, verify_many
from filters.majority import Vote, majority_vote

CHUNK_SAMPLES = 64


@dataclass(frozen=True, slots=True)
class Gold:
    """The answer a problem's samples are verified against, and where it came from."""

    answer: str
    source: str = "given"  # given | majority


def teacher_name(sample: Sample) -> str:
    return f"{sample.teacher_backend}:{sample.teacher_model}"


def verify_config(config: RejectConfig) -> VerifyConfig:
    return VerifyConfig(
        tuple(config.answer_patterns), config.timeout_s, config.rel_tol, extraction=config.extraction
    )


def verdicts_for(
    samples: Iterable[Sample],
    problems: Mapping[str, Problem],
    config: RejectConfig,
    judge: ModelJudge | None = None,
    golds: Mapping[str, Gold] | None = None,
) -> Iterator[SampleVerdict]:
    """Each sample's verdict, in input order: by the rules, and by `judge` for what the rules cannot tell.
    A problem's gold is `golds[problem_id]` where given there (a majority answer), else its own answer."""
    settings = verify_config(config)
    golds = golds or {}
    samples = iter(samples)
    # Verified a chunk at a time, so symbolic checks run on every worker at once (and judge requests too).
    while chunk := list(itertools.islice(samples, CHUNK_SAMPLES)):
        chunk_golds = [golds.get(s.problem_id) or Gold(problems[s.problem_id].answer) for s in chunk]
        pairs = [(gold.answer, sample.text) for gold, sample in zip(chunk_golds, chunk, strict=True)]
        verdicts: list[SampleVerdict] = []
        undecided: list[int] = []  # positions in the chunk that the rules cannot tell
        for sample, gold, verdict in zip(
            chunk, chunk_golds, verify_many(pairs, settings, workers=config.workers), strict=True
        ):
            if verdict.status is Status.CANNOT_TELL and sample.finish_reason != "length":
                undecided.append(len(verdicts))
            verdicts.append(
                SampleVerdict(
                    problem_id=sample.problem_id,
                    sample_index=sample.sample_index,
                    status=str(verdict.status),
                    reason=verdict.reason,
                    extracted=verdict.answer,
                    found_by=verdict.found_by,
                    gold=gold.answer,
                    verifier=verdict.verifier,
                    sample_key=sample.key(),
                    teacher=teacher_name(sample),
                    gold_source=gold.source,
                )
            )
        if judge is not None and undecided:
            _ask_judge(judge, verdicts, undecided, chunk, problems)
        yield from verdicts


def undecided_verdicts(samples: Iterable[Sample], reason: str) -> list[SampleVerdict]:
    """Verdicts for samples that nothing can be checked against (a problem without a gold, whose samples
    reached no majority): cannot tell, with `reason`."""
    return [
        SampleVerdict(
            problem_id=sample.problem_id,
            sample_index=sample.sample_index,
            status=str(Status.CANNOT_TELL),
            reason=reason,
            extracted=None,
            gold="",
            verifier="majority",
            sample_key=sample.key(),
            teacher=teacher_name(sample),
            gold_source="majority",
        )
        for sample in samples
    ]


def majority_gold(samples: Sequence[Sample], drawn: int, config: RejectConfig) -> Vote:
    """The samples' vote on the answer: each sample's final answer, grouped by the verifier's equivalence."""
    assert config.majority is not None
    settings = verify_config(config)
    answers = [
        found.answer if (found := find_answer(s.text, settings.patterns, mode=settings.extraction)) else None
        for s in samples
    ]
    answers += [None] * (drawn - len(answers))  # draws without a sample count against the share

    def same(first: str, second: str) -> bool:
        return check_answer(first, second, settings, workers=config.workers).correct

    return majority_vote(
        answers, same, min_share=config.majority.min_share, min_votes=config.majority.min_votes
    )


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
            verifier=judge.name,
            rule_reason=verdicts[at].reason,
            judge_prompt_hash=judge.template.hash,
            judge_reply=ruling.reply,
        )
