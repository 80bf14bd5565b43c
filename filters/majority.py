"""Majority-vote gold for problems that come without a gold answer (NeMo-Skills fills one the same way).

The answers of one problem's samples vote by the verifier's equivalence, so `1/2`, `0.5` and `\\frac{1}{2}`
vote together. The caller passes that equivalence as `same`, gold first, e.g.
`lambda gold, answer: filters.check_answer(gold, answer).correct`, which runs symbolic comparisons in the
verifier's process pool with its hard deadline; a comparison that cannot tell (timed out) counts as not
the same, so the answer starts a group of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of one problem's vote; `votes` and `share` describe the largest group even without a
    majority."""

    answer: str | None  # the first-seen member's text of the largest group; None when there is no majority
    votes: int  # size of the largest group
    share: float  # votes / drawn (drawn counts every sample, with or without an answer)
    reason: str  # majority | no_answers | tie | below_share | too_few_votes


def majority_vote(
    answers: Sequence[str | None],
    same: Callable[[str, str], bool],
    *,
    min_share: float = 0.5,
    min_votes: int = 2,
) -> Vote:
    """The majority answer of one problem's samples, or why there is none.

    answers: the extracted final answers in sample-index order; None where no answer was found (it still
        counts as a draw in the share).
    same: the verifier's equivalence, `same(representative, answer)`. Each answer joins the first group
        whose representative (its first member) it equals, else starts a group; an answer seen before joins
        that answer's group without calling `same`, so a problem with d distinct answers in g groups costs
        at most d · g calls.

    >>> majority_vote(["4", None, "4", "5"], str.__eq__)
    Vote(answer='4', votes=2, share=0.5, reason='majority')
    """
    if isinstance(min_share, bool) or not isinstance(min_share, int | float) or not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or min_votes < 1:
        raise ValueError(f"min_votes must be an integer >= 1, got {min_votes!r}")

    representatives: list[str] = []
    sizes: list[int] = []
    group_of: dict[
        str, int
    ] = {}  # every answer text seen: `same` is deterministic, so it joins the same group
    for answer in answers:
        if answer is None:
            continue
        group = group_of.get(answer)
        if group is None:
            group = next(
                (at for at, first in enumerate(representatives) if same(first, answer)), len(representatives)
            )
            if group == len(representatives):
                representatives.append(answer)
                sizes.append(0)
            group_of[answer] = group
        sizes[group] += 1

    if not sizes:
        return Vote(None, 0, 0.0, "no_answers")
    votes = max(sizes)
    share = votes / len(answers)
    if sizes.count(votes) > 1:
        return Vote(None, votes, share, "tie")
    if share < min_share:
        return Vote(None, votes, share, "below_share")
    if votes < min_votes:
        return Vote(None, votes, share, "too_few_votes")
    return Vote(representatives[sizes.index(votes)], votes, share, "majority")
