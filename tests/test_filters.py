"""The verifiers on tables of our own cases: extraction, exact match, numeric and symbolic equivalence."""

from __future__ import annotations

import os
import threading
import time

import pytest

from filters import ExactMatch, Status, SympyEquivalence, check_answer, extract_answer, last_boxed, verify

C, W, U = Status.CORRECT, Status.INCORRECT, Status.CANNOT_TELL


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so \boxed{42}", "42"),  # the plain case
        (r"\boxed{1} then \boxed{2}", "2"),  # several boxes: the last one is the final answer
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),  # nested braces balance
        (r"\boxed{\left\{1,2\right\}}", r"\left\{1,2\right\}"),  # escaped braces do not count
        (r"\fbox{7}", "7"),  # \fbox is a box too
        (r"\boxed {5}", "5"),  # space before the brace
        (r"\boxed 5.", "5"),  # brace-less form takes the next token
        (r"\boxed{3} and later \boxed{4", "3"),  # a truncated last box loses to an earlier complete one
        (r"no box here, 12", None),  # nothing boxed, no pattern: no answer
        (r"\boxed{}", ""),  # an empty box is an empty answer (the verifier will call it wrong)
        (r"\boxedx{3}", None),  # a longer command name is not \boxed
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "text, patterns, expected",
    [
        ("The answer is 12.", [r"answer is\s*(\S+?)\.?$"], "12"),  # a configured pattern, first group
        ("x = 3 so\nAnswer: 5\n", [r"^Answer:\s*(.+)$"], "5"),  # line anchors work (MULTILINE)
        ("Answer: 1\nAnswer: 2", [r"^Answer:\s*(.+)$"], "2"),  # the last match wins
        (r"The answer is 9. \boxed{10}", [r"answer is (\d+)"], "10"),  # a box beats every pattern
        ("nothing", [r"answer is (\d+)"], None),  # no match: no answer
        ("Final: 8", [r"nope (\d)", r"Final: (\d)"], "8"),  # the first pattern that matches is used
    ],
)
def test_extract_answer_patterns(text, patterns, expected):
    assert extract_answer(text, patterns) == expected


@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        ("42", "42", C),  # identical
        ("42", "$42$", C),  # math delimiters are not part of the value
        ("yes", "Yes.", C),  # case and a final period do not matter
        (r"\text{blue}", "blue", C),  # text wrappers are unwrapped
        (r"\frac{1}{2}", r"\dfrac{1}{2}", C),  # \dfrac is \frac
        ("x = 3", "3", C),  # an assignment's value
        ("**7**", "7", C),  # markdown emphasis
        ("blue", "red", W),  # different words
        ("12", "13", W),  # different numbers
    ],
)
def test_exact_match(gold, answer, expected):
    assert ExactMatch().check(gold, answer).status is expected


@pytest.mark.parametrize(
    "gold, answer, expected, reason",
    [
        ("1/2", r"\frac{1}{2}", C, "equal_value"),  # a fraction in two notations
        ("1/2", "0.5", C, "equal_value"),  # a terminating decimal equals the fraction exactly
        ("1/3", "0.333", W, "wrong_answer"),  # exact gold: a rounded decimal is not accepted
        ("-10/9", r"-\frac{10}{9}", C, "equal_value"),  # sign outside the fraction
        ("-10/9", r"\frac{-10}{9}", C, "equal_value"),  # sign inside the numerator
        ("25/11", r"\frac{25}{11}", C, "equal_value"),  # algebra-set style gold
        ("1275", "1,275", C, "equal_value"),  # thousands separator
        ("7425000", "7{,}425{,}000", C, "equal_value"),  # LaTeX thousands separator
        ("65", r"\$65", C, "equal_value"),  # currency sign
        ("65", "65 dollars", C, "equal_value"),  # a trailing unit word
        ("30", r"30 \text{ km}", C, "equal_value"),  # a unit in \text{}
        ("3.54e-07", "0.000000354", C, "equal_value"),  # e-notation
        ("5", "05", C, "equal_value"),  # leading zero
        ("5", "+5", C, "equal_value"),  # explicit plus sign
        ("5", "x = 5", C, "exact_match"),  # stated as an assignment: the exact form already agrees
        ("68", "-68", W, "wrong_answer"),  # a sign error is wrong
        ("68", "86", W, "wrong_answer"),  # swapped digits
        (
            "1/2",
            r"\frac{1}{0}",
            W,
            "wrong_answer",
        ),  # division by zero is no value, and certainly not the gold
        ("12", "", U, "unparseable_answer"),  # an empty box holds no answer
        (r"\sqrt{2}/2", r"\frac{1}{\sqrt{2}}", C, "equal_value"),  # symbolic: rationalised forms agree
        (r"2\pi", r"\pi \cdot 2", C, "equal_value"),  # symbolic: commuted product
        (r"x^2 - 1", r"(x-1)(x+1)", C, "equal_value"),  # symbolic: factored vs expanded
        (r"\sqrt{2}", r"\sqrt{3}", W, "wrong_answer"),  # symbolic: different surds
        (r"1 - \frac{1}{e}", r"1 + \frac{1}{e}", W, "wrong_answer"),  # close values, different exact values
    ],
)
def test_sympy_equivalence(gold, answer, expected, reason):
    verdict = check_answer(gold, answer)
    assert (verdict.status, verdict.reason) == (expected, reason)


@pytest.mark.parametrize(
    "response, expected, reason",
    [
        (r"3 + 4 = 7, so \boxed{7}", C, "exact_match"),  # boxed and right
        (r"First 3 + 4 = 12. Then \boxed{7}", C, "exact_match"),  # an intermediate "= 12" never beats the box
        (r"so \boxed{8}", W, "wrong_answer"),  # boxed and wrong
        ("I think it is 7", U, "no_answer"),  # no box, no pattern: cannot tell, never "wrong"
    ],
)
def test_verify_response(response, expected, reason):
    verdict = verify("7", response)
    assert (verdict.status, verdict.reason) == (expected, reason)


def test_verdict_carries_forms_and_verifier_name():
    verdict = check_answer("1/2", r"\frac{2}{4}")
    assert verdict.correct
    assert (verdict.gold_form, verdict.answer_form) == ("1/2", "1/2")
    assert verdict.verifier.startswith("sympy@")


@pytest.mark.parametrize(
    "payload",
    [
        "__import__('os').system('touch {marker}')",
        "exec(\"open('{marker}', 'w').write('x')\")",
        "eval(compile(\"open('{marker}','w')\", 'x', 'exec'))",
        r"\boxed{{__import__('os').system('touch {marker}')}}",
        "lambda: open('{marker}', 'w')",
    ],
)
def test_code_shaped_answers_never_run(tmp_path, payload):
    marker = tmp_path / "ran"
    text = payload.format(marker=marker)
    verdict = verify("3", text) if text.startswith("\\boxed") else check_answer("3", text)
    assert verdict.status is not Status.CORRECT
    assert not marker.exists()


@pytest.mark.parametrize(
    "answer",
    [
        "10^{10^{10^{10}}}",  # a tower whose evaluation never ends
        "1e999999999",  # e-notation with a huge exponent must not build the integer
        "{" * 3000 + "1" + "}" * 3000,  # deep nesting
        "9" * 100_000,  # 100 kB of digits
    ],
)
def test_pathological_answers_end_within_the_deadline(answer):
    started = time.monotonic()
    verdict = SympyEquivalence(timeout_s=2.0).check("5", answer)
    assert time.monotonic() - started < 2.0 + 1.0
    assert verdict.status is not Status.CORRECT


def test_deadline_holds_off_the_main_thread():
    results = []

    def work():
        started = time.monotonic()
        verdict = SympyEquivalence(timeout_s=1.0).check("5", "10^{10^{10^{10}}}")
        results.append((verdict, time.monotonic() - started))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    ((verdict, elapsed),) = results
    assert verdict.reason == "timed_out"
    assert elapsed < 1.0 + 1.0
    # The pool recovers: the next symbolic check works.
    assert check_answer(r"\sqrt{4}", "2").correct


def test_no_eval_entry_points_in_filters():
    """Model text must never reach sympify/parse_expr/eval: the source does not call them at all."""
    root = os.path.join(os.path.dirname(__file__), "..", "filters")
    for name in os.listdir(root):
        if name.endswith(".py"):
            source = open(os.path.join(root, name)).read()
            for forbidden in ("sympify(", "parse_expr(", "eval(", "exec("):
                assert forbidden not in source, f"{name} calls {forbidden}"


def test_a_dead_worker_is_cannot_tell_and_the_pool_recovers():
    from filters.deadline import DeadlinePool
    from filters.verify import _warm_up

    pool = DeadlinePool(workers=1, warmup=_warm_up)
    verifier = SympyEquivalence(timeout_s=5.0, pool=pool)
    assert verifier.check(r"\sqrt{4}", "2").correct
    for process in list(pool._pool._processes.values()):
        process.kill()  # as the out-of-memory killer would
    time.sleep(0.5)
    assert verifier.check(r"\sqrt{4}", "2").reason in ("verifier_error", "equal_value")
    assert verifier.check(r"\sqrt{4}", "2").correct
    pool.close()
