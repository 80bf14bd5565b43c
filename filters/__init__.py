"""Answer extraction and verification for rejection sampling.

>>> from filters import verify
>>> verify("3/4", r"... therefore \\boxed{\\dfrac{3}{4}}").correct
True
"""

from filters.extract import EXTRACTION_MODES, Found, extract_answer, find_answer, last_boxed
from filters.verify import (
    VERSION,
    ExactMatch,
    Status,
    SympyEquivalence,
    Verdict,
    VerifyConfig,
    check_answer,
    start_pool,
    verify,
    verify_many,
)

__all__ = [
    "EXTRACTION_MODES",
    "VERSION",
    "ExactMatch",
    "Found",
    "Status",
    "SympyEquivalence",
    "Verdict",
    "VerifyConfig",
    "check_answer",
    "extract_answer",
    "find_answer",
    "last_boxed",
    "start_pool",
    "verify",
    "verify_many",
]
