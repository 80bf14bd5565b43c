"""Corpus-wide curation: decontamination and dedup, the units that judge a problem or a trace against an
evaluation set or the rest of the corpus rather than against one problem's draws.

On **problems** they run before any is sampled, so a contaminated or duplicate problem costs no teacher
time: its drop is a line of `excluded_problems.jsonl` naming the evaluation item it matched or the problem
kept in its place. On **traces** they run when the shards are made (`factory.package`), over every trace
the curate stage kept, in problem order: a trace can quote an evaluation problem it was never asked, and
two problems can share a solution. The copy earliest in problem order is the one kept, so the outcome does
not depend on the order the teacher finished in.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from factory.config import CurateConfig
from factory.problem_table import ProblemTable
from factory.storage import atomic_open

DECONTAMINATE_UNIT = "decontaminate"
PROBLEM_EXCLUSIONS = "excluded_problems.jsonl"


def dedup_unit_name(name: str) -> str:
    """How a dedup unit's drops are counted: `exact` → `exact_dedup`, beside the other units' names."""
    return sys.intern(f"{name}_dedup")  # one copy for every drop it names


def load_decontaminator(curate: CurateConfig) -> Any:
    """The evaluation sets' index (`curate.decontaminate`), or None when it is off."""
    if curate.decontaminate is None:
        return None
    from filters.decontaminate import Decontaminator

    settings = curate.decontaminate
    return Decontaminator(
        [(item.path, item.field) for item in settings.sets], ngram=settings.ngram, fuzzy=settings.fuzzy
    )


def corpus_identity(curate: CurateConfig, decontaminator: Any) -> dict[str, Any]:
    """What the corpus-wide units decide from: their config and the evaluation files' contents."""
    return {
        "decontaminate": None
        if decontaminator is None
        else {
            "on": curate.decontaminate.on,  # type: ignore[union-attr]
            "ngram": curate.decontaminate.ngram,  # type: ignore[union-attr]
            "fuzzy": curate.decontaminate.fuzzy,  # type: ignore[union-attr]
            "sets": decontaminator.sets_summary(),
        },
        "dedup": curate.dedup,
    }


def screen_problems(
    problems: ProblemTable, curate: CurateConfig, decontaminator: Any, run_dir: Path
) -> Counter[tuple[str, str]]:
    """Leave out of `problems` those decontamination and dedup drop; each one left out is a line of
    `excluded_problems.jsonl` (rewritten each run). The drops counted by (unit, reason)."""
    from filters.dedup import DuplicateFinder

    drops: dict[int, dict[str, Any]] = {}  # position → the problem's line
    contaminate = decontaminator is not None and "problems" in curate.decontaminate.on  # type: ignore[union-attr]
    finder = DuplicateFinder(curate.dedup_units(), problems.read + 1, "problems")  # positions count from 1
    if contaminate or finder.active:
        for position, problem in problems.numbered():
            match = decontaminator.match(problem.problem, fuzzy=True) if contaminate else None
            if match is not None:
                drops[position] = {
                    "problem_id": problem.id,
                    "unit": DECONTAMINATE_UNIT,
                    "reason": "contaminated",
                    "detail": match.to_dict(),
                }
            else:
                finder.add(position, problem.problem)
    for position, duplicate in finder.duplicates().items():
        kept = problems.at(duplicate.kept)
        drops[position] = {
            "problem_id": problems.at(position).id,
            "unit": dedup_unit_name(duplicate.unit),
            "reason": duplicate.reason,
            "detail": {"kept_problem_id": kept.id},
        }
    path = run_dir / PROBLEM_EXCLUSIONS
    if drops:
        with atomic_open(path) as handle:
            for position in sorted(drops):
                handle.write(json.dumps(drops[position], ensure_ascii=False) + "\n")
    else:
        path.unlink(missing_ok=True)
    problems.leave_out(drops)
    return Counter((drop["unit"], drop["reason"]) for drop in drops.values())
