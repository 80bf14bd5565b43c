"""Verifier throughput and agreement: factory's verifier against Math-Verify on the same mixed cases.

Cases are generated here (our own problems, not a public set): 8 kinds of gold answer (integers, fractions,
surds, multiples of π, intervals, sets, tuples, polynomials), each answered 4 times, correctly in another
notation or wrongly, as a bare answer or at the end of a long chain of thought (2–6 kB). Every case has
a known label, so both verifiers' accuracy is reported beside their agreement.

Math-Verify is not a dependency; install it beside the project, not into it:

    .venv/bin/pip install --no-deps --target .bench-deps math-verify==0.9.0
    .venv/bin/python tests/bench/bench_verify.py [--problems 150] [--rounds 2]

Each round makes a fresh case set (so no verifier profits from a cache filled by another) and runs the
three measurements in alternating order.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from filters import VerifyConfig, verify, verify_many  # noqa: E402
from filters.verify import shared_pool  # noqa: E402

Case = tuple[str, str, bool, str]  # gold, response, label, kind


def _forms(rng: random.Random) -> tuple[str, str, list[str], list[str]]:
    """(kind, gold, correct renderings, wrong renderings) of one random gold answer."""
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
    kind = rng.choice(["integer", "fraction", "surd", "pi", "interval", "set", "tuple", "polynomial"])
    if kind == "integer":
        n = rng.randint(1000, 9_999_999)
        return kind, str(n), [f"{n:,}", f"{n}.0", rf"\text{{{n}}}", f"{n} units"], [str(n + 1), str(-n)]
    if kind == "fraction":
        a, b = (a, b + a) if a != b else (a, b + 1)
        return (
            kind,
            rf"\frac{{{a}}}{{{b}}}",
            [f"{a}/{b}", rf"\dfrac{{{2 * a}}}{{{2 * b}}}"],
            [rf"\frac{{{b}}}{{{a}}}", rf"\frac{{{a + 1}}}{{{b}}}"],
        )
    if kind == "surd":
        r = rng.choice([2, 3, 5, 6, 7])
        return (
            kind,
            rf"\frac{{{a}\sqrt{{{r}}}}}{{{c}}}",
            [rf"\frac{{{a}}}{{{c}}}\sqrt{{{r}}}", rf"\sqrt{{{r}}} \cdot \frac{{{a}}}{{{c}}}"],
            [rf"\frac{{{a}\sqrt{{{r + 1}}}}}{{{c}}}", rf"\frac{{{a}}}{{{c}}}\sqrt{{{r * 4}}}"],
        )
    if kind == "pi":
        return (
            kind,
            rf"\frac{{{a}\pi}}{{{c}}}",
            [rf"\frac{{{a}}}{{{c}}}\pi"],
            [rf"\frac{{{a + 1}}}{{{c}}}\pi"],
        )
    if kind == "interval":
        lo, hi = sorted((a, b + 41))
        return (
            kind,
            f"({lo}, {hi}]",
            [f"({lo},{hi}]", rf"{lo} < x \le {hi}"],
            [f"[{lo}, {hi}]", f"({lo}, {hi})"],
        )
    if kind == "set":
        items = sorted({a, b, c + 50})
        shuffled = items[::-1]
        return (
            kind,
            r"\{" + ", ".join(map(str, items)) + r"\}",
            [r"\{" + ", ".join(map(str, shuffled)) + r"\}", ", ".join(map(str, shuffled))],
            [r"\{" + ", ".join(map(str, items[:-1] + [items[-1] + 1])) + r"\}"],
        )
    if kind == "tuple":
        return kind, f"({a}, {-b})", [rf"\left({a}, {-b}\right)"], [f"({-b}, {a})", f"({a}, {b})"]
    return (
        kind,
        f"x^2 + {a + b}x + {a * b}",
        [f"(x+{a})(x+{b})", f"{a * b} + {a + b}x + x^2"],
        [f"(x+{a})(x-{b})", f"x^2 + {a + b}x - {a * b}"],
    )


def _trace(rng: random.Random, answer: str) -> str:
    steps = []
    for index in range(rng.randint(25, 75)):
        x, y = rng.randint(10, 999), rng.randint(10, 999)
        steps.append(
            f"Step {index + 1}: we compute ${x} + {y} = {x + y}$, and then $\\frac{{{x}}}{{{y}}}$ is kept aside."
        )
    return "\n".join(steps) + f"\nTherefore, the final answer is $\\boxed{{{answer}}}$."


def make_cases(seed: int, problems: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(problems):
        kind, gold, right, wrong = _forms(rng)
        for _ in range(4):  # four samples per problem, as rejection sampling draws them
            label = rng.random() < 0.5
            answer = rng.choice(right if label else wrong)
            response = answer if rng.random() < 0.5 else _trace(rng, answer)
            cases.append((gold, response, label, kind))
    return cases


def run_ours_single(cases: list[Case]) -> tuple[list[bool], float]:
    verdicts, slowest = [], 0.0
    for gold, response, _, _ in cases:
        started = time.perf_counter()
        verdicts.append(verify(gold, response, CONFIG).correct)
        slowest = max(slowest, time.perf_counter() - started)
    return verdicts, slowest


def run_ours_pool(cases: list[Case], workers: int) -> list[bool]:
    return [v.correct for v in verify_many([(g, r) for g, r, _, _ in cases], CONFIG, workers=workers)]


def run_math_verify(cases: list[Case]) -> list[bool]:
    from math_verify import parse
    from math_verify import verify as mv_verify

    results = []
    for gold, response, _, _ in cases:
        # Math-Verify reads LaTeX only between math delimiters, its documented input: bare golds and bare
        # answers are wrapped for it (ours reads them as they are).
        answer = response if "\n" in response else f"${response}$"
        results.append(bool(mv_verify(parse(f"${gold}$"), parse(answer))))
    return results


def timed(fn: Callable[..., object], *args: object) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


CONFIG = VerifyConfig(timeout_s=5.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=150, help="problems per round (4 cases each)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / ".bench-deps"))
    try:
        import math_verify  # noqa: F401
    except ImportError:
        sys.exit("Math-Verify is not installed; see this script's docstring for the one-line install.")
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it logs every timeout and parse failure

    workers = os.cpu_count() or 1
    # Start the pools before timing: process start-up is paid once per process, not per check.
    shared_pool(1).start()
    shared_pool(workers).start()

    totals: Counter[str] = Counter()
    slowest = 0.0
    agree = 0
    labels: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    count = 0
    for round_index in range(args.rounds):
        cases = make_cases(seed=round_index, problems=args.problems)
        order = ["single", "pool", "math_verify"]
        if round_index % 2:
            order.reverse()
        results: dict[str, list[bool]] = {}
        for name in order:
            if name == "single":
                (verdicts, worst), seconds = timed(run_ours_single, cases)
                slowest = max(slowest, worst)
            elif name == "pool":
                verdicts, seconds = timed(run_ours_pool, cases, workers)
            else:
                verdicts, seconds = timed(run_math_verify, cases)
            results[name] = verdicts
            totals[name] += seconds
        count += len(cases)
        for index, (_, _, label, kind) in enumerate(cases):
            ours, theirs = results["single"][index], results["math_verify"][index]
            agree += ours == theirs
            labels["ours"] += ours == label
            labels["math_verify"] += theirs == label
            labels["pool_same_as_single"] += results["pool"][index] == ours
            counter = by_kind.setdefault(kind, Counter())
            counter["cases"] += 1
            counter["ours"] += ours == label
            counter["math_verify"] += theirs == label

    rate = {name: count / seconds for name, seconds in totals.items()}
    print(f"cases            {count} ({args.rounds} rounds, half bare answers, half 2-6 kB traces)")
    print(f"factory, 1 proc  {rate['single']:8.1f} verifications/s   slowest check {slowest:.2f} s")
    print(f"factory, pool    {rate['pool']:8.1f} verifications/s   ({workers} workers)")
    print(f"Math-Verify      {rate['math_verify']:8.1f} verifications/s")
    print(
        f"ratio            {rate['single'] / rate['math_verify']:.1f}x single process, "
        f"{rate['pool'] / rate['math_verify']:.1f}x with the pool"
    )
    print(f"agreement        {agree / count:.1%} of verdicts equal (factory vs Math-Verify)")
    print(
        f"accuracy         factory {labels['ours'] / count:.1%}, Math-Verify {labels['math_verify'] / count:.1%}"
    )
    print(f"pool == single   {labels['pool_same_as_single'] / count:.1%}")
    for kind, counter in sorted(by_kind.items()):
        print(
            f"  {kind:11} factory {counter['ours'] / counter['cases']:6.1%}  "
            f"Math-Verify {counter['math_verify'] / counter['cases']:6.1%}  ({counter['cases']} cases)"
        )


if __name__ == "__main__":
    main()
