from __future__ import annotations

import pytest

from filters import check_answer
from filters.majority import Vote, majority_vote


def exactly(first: str, second: str) -> bool:
    return first == second


def verifier_equivalence(gold: str, answer: str) -> bool:
    return check_answer(gold, answer).correct


@pytest.mark.parametrize(
    "answers, min_share, min_votes, expected",
    [
        (["4", "4", "4", "5"], 0.5, 2, Vote("4", 3, 0.75, "majority")),  # a clear majority
        (["4", "5", "4", "5", "4"], 0.5, 2, Vote("4", 3, 0.6, "majority")),  # interleaved votes
        (["4", "4", "5", "5"], 0.5, 2, Vote(None, 2, 0.5, "tie")),  # two equal largest groups: no gold
        (["4", "4", "5", "6", "7"], 0.5, 2, Vote(None, 2, 0.4, "below_share")),  # the largest is no majority
        (["4", "4", "5", "6", "7"], 0.4, 2, Vote("4", 2, 0.4, "majority")),  # share on the bound: enough
        (["4"], 0.5, 2, Vote(None, 1, 1.0, "too_few_votes")),  # one sample is not a vote
        (["4"], 0.5, 1, Vote("4", 1, 1.0, "majority")),  # unless the caller allows it
        # draws without an answer count against the share: 2 of 5 is below a half
        (["4", None, "4", None, None], 0.5, 2, Vote(None, 2, 0.4, "below_share")),
        ([None, None], 0.5, 2, Vote(None, 0, 0.0, "no_answers")),  # nothing to vote on
        ([], 0.5, 2, Vote(None, 0, 0.0, "no_answers")),  # nothing drawn
    ],
)
def test_majority_vote_by_string_equality(answers, min_share, min_votes, expected):
    assert majority_vote(answers, exactly, min_share=min_share, min_votes=min_votes) == expected


def test_groups_by_the_first_member_and_calls_same_once_per_new_text():
    calls: list[tuple[str, str]] = []

    def same_up_to_spaces(first: str, second: str) -> bool:
        calls.append((first, second))
        return first.replace(" ", "") == second.replace(" ", "")

    vote = majority_vote(["x+1", "5", "x + 1", "x+1", "5", "x + 1"], same_up_to_spaces)
    assert vote == Vote("x+1", 4, 4 / 6, "majority")  # the winner is written as its first member
    # "5" and "x + 1" are compared once each; repeated texts join their group without a call
    assert calls == [("x+1", "5"), ("x+1", "x + 1")]


def test_an_answer_joins_the_first_group_that_matches():
    # "2.0" matches both representatives under this `same`; it joins the earlier group, "2"
    def same_value(first: str, second: str) -> bool:
        return float(first) == float(second)

    vote = majority_vote(["2", "3", "2.0", "2.00"], same_value)
    assert vote == Vote("2", 3, 0.75, "majority")


@pytest.mark.parametrize(
    "answers, expected",
    [
        # the same half in three forms votes together
        (["1/2", "0.5", "\\frac{1}{2}", "3"], Vote("1/2", 3, 0.75, "majority")),
        (["\\frac{1}{2}", "4", "0.5", "4", "\\dfrac{1}{2}"], Vote("\\frac{1}{2}", 3, 0.6, "majority")),
        (["3", "4", "3", "4"], Vote(None, 2, 0.5, "tie")),  # different numbers never vote together
    ],
)
def test_majority_vote_with_the_verifier(answers, expected):
    assert majority_vote(answers, verifier_equivalence) == expected


@pytest.mark.parametrize(
    "min_share, min_votes, message",
    [
        (0, 2, "min_share must be in (0, 1], got 0"),  # 0 would make any answer the gold
        (1.5, 2, "min_share must be in (0, 1], got 1.5"),
        (0.5, 0, "min_votes must be an integer >= 1, got 0"),
        (0.5, 2.5, "min_votes must be an integer >= 1, got 2.5"),
    ],
)
def test_arguments_are_validated(min_share, min_votes, message):
    with pytest.raises(ValueError) as error:
        majority_vote(["4", "4"], exactly, min_share=min_share, min_votes=min_votes)
    assert str(error.value) == message
