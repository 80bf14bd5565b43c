"""Generate the factory's own sample problem sets, with gold answers computed by sympy.

    python data/generate.py            # rewrites data/*.jsonl deterministically
    python data/generate.py rft        # data/rft/{train,heldout}.jsonl: disjoint sets for the RFT recipe

Four sets: one operation on small numbers, one- and two-step arithmetic, multi-step word problems, and linear equations.
Gold answers are exact: integers, or reduced fractions written `a/b`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import sympy

HERE = Path(__file__).resolve().parent
SEED = 20261122


def gold(value: sympy.Expr) -> str:
    value = sympy.nsimplify(value)
    if not value.is_Rational:
        raise ValueError(f"gold answers must be rational, got {value}")
    return str(value)  # sympy prints Rationals as 3/4 and -7


def basic(rng: random.Random) -> Iterator[tuple[str, str]]:
    """One operation on small numbers: within reach of a 135M teacher, some of the time."""
    for _ in range(80):
        a, b = sympy.Integer(rng.randint(1, 20)), sympy.Integer(rng.randint(1, 20))
        kind = rng.choice(["add", "add", "subtract", "multiply"])
        if kind == "add":
            yield f"What is {a} + {b}?", gold(a + b)
        elif kind == "subtract":
            big, small = max(a, b), min(a, b)
            yield f"What is {big} - {small}?", gold(big - small)
        else:
            a, b = sympy.Integer(rng.randint(2, 10)), sympy.Integer(rng.randint(2, 10))
            yield f"What is {a} times {b}?", gold(a * b)


def arithmetic(rng: random.Random) -> Iterator[tuple[str, str]]:
    ops = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "\\times": lambda a, b: a * b,
    }
    for _ in range(120):
        a, b, c = (sympy.Integer(rng.randint(2, 60)) for _ in range(3))
        op1, op2 = rng.choice(list(ops)), rng.choice(list(ops))
        if rng.random() < 0.4:
            yield f"Compute ${a} {op1} {b}$.", gold(ops[op1](a, b))
        elif rng.random() < 0.7:
            # Parenthesised first so the order of operations is unambiguous.
            yield f"Compute $({a} {op1} {b}) {op2} {c}$.", gold(ops[op2](ops[op1](a, b), c))
        else:
            d = sympy.Integer(rng.randint(2, 12))
            yield f"Compute $\\frac{{{a * d}}}{{{d}}} + {b}$.", gold(a + b)


def word_problems(rng: random.Random) -> Iterator[tuple[str, str]]:
    names = ["Ada", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun"]
    items = ["apples", "pencils", "marbles", "stickers", "books", "coins"]

    def shopping(name: str, item: str) -> tuple[str, str]:
        start, bags, per_bag, given = (rng.randint(a, b) for a, b in [(5, 40), (2, 6), (3, 12), (1, 10)])
        answer = sympy.Integer(start) + bags * per_bag - given
        return (
            f"{name} has {start} {item}. {name} buys {bags} bags with {per_bag} {item} in each bag, "
            f"then gives {given} {item} to a friend. How many {item} does {name} have now?",
            gold(answer),
        )

    def sharing(name: str, item: str) -> tuple[str, str]:
        friends = rng.randint(2, 8)
        each = rng.randint(2, 15)
        left = rng.randint(1, friends - 1)
        total = friends * each + left
        return (
            f"{name} shares {total} {item} equally among {friends} friends and keeps the {left} "
            f"that are left over. How many {item} does each friend get?",
            gold(sympy.floor(sympy.Rational(total, friends))),
        )

    def speed(name: str, _item: str) -> tuple[str, str]:
        km_h = rng.choice([30, 40, 45, 60, 75, 90])
        minutes = rng.choice([20, 30, 40, 50, 80, 90])
        return (
            f"{name} drives at {km_h} km per hour for {minutes} minutes. How many kilometres does {name} drive?",
            gold(sympy.Rational(km_h * minutes, 60)),
        )

    def savings(name: str, _item: str) -> tuple[str, str]:
        weekly, weeks, spent = rng.randint(3, 20), rng.randint(3, 10), rng.randint(1, 15)
        return (
            f"{name} saves {weekly} dollars every week for {weeks} weeks, then spends {spent} dollars "
            f"on a gift. How many dollars does {name} have left?",
            gold(sympy.Integer(weekly) * weeks - spent),
        )

    kinds: list[Callable[[str, str], tuple[str, str]]] = [shopping, sharing, speed, savings]
    for _ in range(100):
        yield rng.choice(kinds)(rng.choice(names), rng.choice(items))


def algebra(rng: random.Random) -> Iterator[tuple[str, str]]:
    x = sympy.Symbol("x")
    for _ in range(100):
        a = rng.choice([n for n in range(-9, 10) if n not in (0, 1)])
        b, c = rng.randint(-20, 20), rng.randint(-20, 20)
        if rng.random() < 0.5:
            equation = sympy.Eq(a * x + b, c)
        else:
            d = rng.choice([n for n in range(-5, 6) if n not in (0, a)])
            equation = sympy.Eq(a * x + b, d * x + c)
        (solution,) = sympy.solve(equation, x)
        yield f"Solve for $x$: ${sympy.latex(equation.lhs)} = {sympy.latex(equation.rhs)}$.", gold(solution)


def write(name: str, rows: Iterator[tuple[str, str]]) -> int:
    path = HERE / f"{name}.jsonl"
    seen: set[str] = set()
    count = 0
    with path.open("w") as out:
        for problem, answer in rows:
            if problem in seen:
                continue
            seen.add(problem)
            count += 1
            row = {"id": f"{name}-{count:04d}", "problem": problem, "answer": answer, "category": name}
            out.write(json.dumps(row) + "\n")
    return count


# The RFT recipe's families (configs/rft): what a 135M model can learn to do better. Algebra is left out:
# the embedded model solves almost none, so its traces teach nothing.
RFT_FAMILIES = {"basic": (basic, 1), "arithmetic": (arithmetic, 2), "word_problems": (word_problems, 3)}
RFT_SPLITS = (("heldout", 300), ("train", 400))


def rft_sets(seed: int = SEED + 1) -> dict[str, list[dict[str, str | int]]]:
    """Disjoint held-out and train sets, the families interleaved: the held-out set is drawn first, and a
    problem text drawn again is skipped, so no train problem is a held-out one."""
    rng = random.Random(seed)
    streams = {name: _endless(make, rng) for name, (make, _) in RFT_FAMILIES.items()}
    seen: set[str] = set()
    sets: dict[str, list[dict[str, str | int]]] = {}
    for split, size in RFT_SPLITS:
        rows: list[dict[str, str | int]] = []
        while len(rows) < size:
            family = list(RFT_FAMILIES)[len(rows) % len(RFT_FAMILIES)]
            problem, answer = next(streams[family])
            if problem in seen:
                continue
            seen.add(problem)
            rows.append(
                {
                    "id": f"rft-{split}-{len(rows) + 1:04d}",
                    "problem": problem,
                    "answer": answer,
                    "source": family,
                    "difficulty": RFT_FAMILIES[family][1],
                }
            )
        sets[split] = rows
    return sets


def _endless(make: Callable[[random.Random], Iterator[tuple[str, str]]], rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        yield from make(rng)


def main(argv: list[str]) -> None:
    if argv == ["rft"]:
        (HERE / "rft").mkdir(exist_ok=True)
        for split, rows in rft_sets().items():
            path = HERE / "rft" / f"{split}.jsonl"
            path.write_text("".join(json.dumps(row) + "\n" for row in rows))
            print(f"{path.relative_to(HERE.parent)}: {len(rows)} problems")
        return
    rng = random.Random(SEED)
    for name, make in [
        ("basic", basic),
        ("arithmetic", arithmetic),
        ("word_problems", word_problems),
        ("algebra", algebra),
    ]:
        print(f"{name}: {write(name, make(rng))} problems")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
