"""The verifier on our corpus of answers written the way real models write them (`verifier_cases.py`),
in both extraction modes, plus the tables of how each answer was found."""

from __future__ import annotations

import pytest
from verifier_cases import CATEGORIES

from filters import VerifyConfig, find_answer, verify

LENIENT, STRICT = VerifyConfig(extraction="lenient"), VerifyConfig(extraction="strict")

CASES = [
    pytest.param(gold, response, lenient, strict, id=f"{category}-{index}")
    for category, rows in CATEGORIES.items()
    for index, (gold, response, lenient, strict) in enumerate(rows)
]


@pytest.mark.parametrize("gold, response, lenient, strict", CASES)
def test_wild_case_lenient(gold, response, lenient, strict):
    verdict = verify(gold, response, LENIENT)
    assert verdict.status is lenient, verdict


@pytest.mark.parametrize("gold, response, lenient, strict", CASES)
def test_wild_case_strict(gold, response, lenient, strict):
    verdict = verify(gold, response, STRICT)
    assert verdict.status is strict, verdict
