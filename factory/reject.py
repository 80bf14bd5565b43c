"""Stage 3: samples → verdicts. Each sample passes through small filters in order; the first that drops it
gives the reason. The run, not the filters, counts what was kept and dropped by reason, from the verdicts."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping

from factory.config import RejectConfig
from factory.records import Sample, SampleVerdict
from filters import VerifyConfig, verify_many

CHUNK_SAMPLES = 64


def teacher_name(sample: Sample) -> str:
    return f"{sample.teacher_backend}:{sample.teacher_model}"


class TruncationFilter:
    """Drops samples the engine cut off at max_tokens: their reasoning never finished."""

    def drop_reason(self, sample: Sample) -> str | None:
        return "truncated" if sample.finish_reason == "length" else None


def judge(
    samples: Iterable[Sample], gold: Mapping[str, str], config: RejectConfig
) -> Iterator[SampleVerdict]:
    truncation = None if config.keep_truncated else TruncationFilter()
    verify_config = VerifyConfig(
        tuple(config.answer_patterns), config.timeout_s, config.rel_tol, extraction=config.extraction
    )
    samples = iter(samples)
    # Verified a chunk at a time, so symbolic checks run on every worker at once.
    while chunk := list(itertools.islice(samples, CHUNK_SAMPLES)):
        pairs = [(gold[sample.problem_id], sample.text) for sample in chunk]
        for sample, verdict in zip(
            chunk, verify_many(pairs, verify_config, workers=config.workers), strict=True
        ):
            reason = truncation.drop_reason(sample) if truncation else None
            if reason is None:
                reason = verdict.reason if not verdict.correct else None
            kept = reason is None
            yield SampleVerdict(
                problem_id=sample.problem_id,
                sample_index=sample.sample_index,
                status=str(verdict.status),
                reason=verdict.reason if kept else reason,  # type: ignore[arg-type]
                kept=kept,
                extracted=verdict.answer,
                found_by=verdict.found_by,
                gold=gold[sample.problem_id],
                verifier=verdict.verifier,
                sample_key=sample.key(),
                teacher=teacher_name(sample),
            )
