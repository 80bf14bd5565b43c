"""The curate stage: verified samples → kept traces and exclusions, one problem at a time.

A problem is curated once all its draws are verified (the stream never waits on other problems). Its
traces pass, in order, through the verifier's verdict, the trace filters (`curate.filters`) and the problem
selectors (`curate.select`); the first unit that drops a trace gives its reason. The decision is one line of
the curation journal (`curated/part-*.jsonl`): the kept traces, best first, and every exclusion with its
unit, reason and trace. The shards are made from these lines (`factory.package`), so a change of curate
config re-runs only this stage and packaging: no engine, no verifier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from factory.config import EMBEDDED_MODEL, CurateConfig
from factory.prompts import PromptTemplate
from factory.records import (
    Exclusion,
    KeptTrace,
    Problem,
    ProblemCuration,
    ProblemVote,
    Sample,
    SampleVerdict,
)
from factory.teachers import Log
from filters.curation import Draws, Trace, curate_problem, first_drop


class Curator:
    def __init__(self, config: CurateConfig, template: PromptTemplate, log: Log) -> None:
        self.trace_filters = [(name, _resolved(unit, log)) for name, unit in config.trace_filters()]
        self.selectors = config.selectors()
        self._asked = template.answer_format

    def trace(self, sample: Sample, verdict: SampleVerdict, problem: Problem) -> Trace:
        return Trace(
            problem_id=problem.id,
            index=sample.sample_index,
            problem=problem.problem,
            text=sample.trace_text(),
            finish_reason=sample.finish_reason,
            correct=verdict.correct,
            verdict_reason=verdict.reason,
            answer=verdict.extracted,
            found_by=verdict.found_by,
            completion_tokens=sample.completion_tokens,
            asked_format=self._asked,
            sample_key=verdict.sample_key,
        )

    def passes(self, trace: Trace) -> bool:
        """Correct, and no trace filter drops it: what adaptive sampling counts (selection comes later)."""
        return first_drop(trace, self.trace_filters) is None

    def enough(self, passing: int) -> bool:
        """With `passing` traces, no further draw can change what is kept: a selector says so and none before
        it reorders or judges the problem as a whole (`shortest` before `at_most` could still take a
        shorter later draw; `pass_rate` moves with every draw)."""
        if any(name == "pass_rate" for name, _ in self.selectors):
            return False  # every draw moves the pass rate
        for name, selector in self.selectors:
            if selector.enough(passing):
                return True
            if name != "all":
                return False
        return False

    def curate(
        self,
        problem: Problem,
        pairs: Sequence[tuple[Sample, SampleVerdict]],
        drawn: int,
        vote: ProblemVote | None,
    ) -> ProblemCuration:
        """One problem's decision, from its samples and their verdicts in sample-index order."""
        traces = [self.trace(sample, verdict, problem) for sample, verdict in pairs]
        verdicts = {verdict.sample_key: verdict for _, verdict in pairs}
        correct = sum(trace.correct for trace in traces)
        curated = curate_problem(traces, Draws(drawn, correct), self.trace_filters, self.selectors)
        gold = pairs[0][1] if pairs else None
        return ProblemCuration(
            problem_id=problem.id,
            drawn=drawn,
            correct=correct,
            gold=gold.gold if gold else problem.answer,
            gold_source=gold.gold_source if gold else "given",
            kept=[kept_trace(verdicts[trace.sample_key]) for trace in curated.kept],
            excluded=[
                Exclusion(
                    sample_key=trace.sample_key,
                    sample_index=trace.index,
                    unit=unit,
                    reason=reason,
                    answer=trace.answer,
                    trace=trace.text,
                    teacher=verdicts[trace.sample_key].teacher,
                    status=verdicts[trace.sample_key].status,
                )
                for trace, unit, reason in sorted(curated.dropped, key=lambda item: item[0].index)
            ],
            vote_share=vote.share if vote else None,
            majority=vote.answer if vote else None,
            majority_disagrees=bool(vote and vote.disagrees),
        )


def kept_trace(verdict: SampleVerdict) -> KeptTrace:
    return KeptTrace(
        sample_key=verdict.sample_key,
        sample_index=verdict.sample_index,
        answer=verdict.extracted,
        found_by=verdict.found_by,
        status=verdict.status,
        reason=verdict.reason,
        verifier=verdict.verifier,
        teacher=verdict.teacher,
    )


def _resolved(unit: object, log: Log) -> object:
    """A unit that counts tokens with the embedded student's tokenizer gets the folder it was converted to."""
    if getattr(unit, "tokenizer", None) == EMBEDDED_MODEL:
        from factory.embedded import embedded_model_dir

        return dataclasses.replace(unit, tokenizer=str(embedded_model_dir(log)))  # type: ignore[type-var]
    return unit
