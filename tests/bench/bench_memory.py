"""Memory of a run against its size: peak RSS of `factory run` with 10x the problems over 1x.

Problems are generated here (a + b, answers computed, no public data). The teacher is a real `vllm serve`
started here, so the engine's memory is not in the measured process; each sample is one token, so the run
is mostly the pipeline's own work (reading, requests, journal, verification, curation, shards). Each size
runs in its own `factory run` process, which reports its peak RSS (`ru_maxrss`) on exit.

Curation is on as a run has it by default (the trace filters of `DEFAULT_TRACE_FILTERS`, selection `all`;
`--select` names other selectors, a YAML list such as '[{at_most: 1}]'); the curate config each run used and
what it kept and dropped are printed. A one-token sample is never a correct, finished trace, so every draw is
dropped (by the verifier, else `truncated`): the curation journal, `excluded.jsonl` and `problem_stats.jsonl`
are written for every problem, but no row is kept and the shards are empty.

`--corpus` turns the corpus-wide units on as well: decontamination against a generated evaluation set (500
sums of another draw, a few of which the problems repeat) on problems and traces, and exact then near dedup.

The shard writer holds up to one row group before writing it (`package.row_group_bytes`, 100 MB by
default, Hugging Face's convention): below that size the kept rows are all in memory at once, which is
bounded but grows with these small runs; `--row-group-bytes` sets it.

`--scripted` measures the other half: a scripted teacher in the measured process answers every draw with a
short worked solution ending in the right boxed answer (4 draws per problem), so every trace passes the
verifier and the trace filters and the curation, the kept rows and the shards grow with the problems.

    .venv/bin/python tests/bench/bench_memory.py [--problems 400] [--factor 10] [--select '[all]'] [--scripted]
        [--corpus]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench_driver import INSTANT_TEACHER
from vllm_server import SERVED_NAME, free_port, start_server, stop_server

from factory.config import RunConfig, load_config
from factory.embedded import embedded_model_dir

MEASURED_RUN = """
import resource, sys
from factory.cli import main
try:
    main(["run", sys.argv[1]])
except SystemExit as exit:
    code = exit.code
print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


SCRIPTED_RUN = (
    """
import resource, sys
sys.path.insert(0, "tests")
from factory.config import RunConfig, load_config
from factory.job import run
"""
    + INSTANT_TEACHER
    + """
if __name__ == "__main__":
    run(load_config(RunConfig, sys.argv[1]), lambda line: None, start_teacher=InstantTeacher)
    print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
)


def write_problems(path: Path, count: int, seed: int | None = None) -> None:
    rng = random.Random(count if seed is None else seed)
    with path.open("w") as handle:
        for index in range(count):
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            row = {"id": f"m{index}", "problem": f"What is {a} + {b}?", "answer": str(a + b)}
            handle.write(json.dumps(row) + "\n")


def measured_run(
    scratch: Path, teacher: str, count: int, select: str | None, corpus: bool, row_group_bytes: int | None
) -> tuple[int, float]:
    problems = scratch / f"problems-{count}.jsonl"
    write_problems(problems, count)
    curate = [f"select: {select}"] if select else []
    if corpus:
        evals = scratch / "evals.jsonl"
        write_problems(evals, 500, seed=-1)
        curate += [f"decontaminate: {{sets: [{{path: '{evals}', field: problem}}]}}", "dedup: [exact, near]"]
    config = scratch / f"run-{count}.yaml"
    config.write_text(
        f"run_dir: {scratch / f'run-{count}'}\n"
        f"problems: {{paths: ['{problems}']}}\n"
        + teacher
        + (f"curate: {{{', '.join(curate)}}}\n" if curate else "")
        + (f"package: {{row_group_bytes: {row_group_bytes}}}\n" if row_group_bytes else "")
    )
    settings = load_config(RunConfig, config).curate
    print(
        f"{count:7d} problems  curate: filters {settings.filters}, select {settings.select}, "
        f"budget {settings.budget}, decontaminate {bool(settings.decontaminate)}, dedup {settings.dedup}"
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPTED_RUN if "scripted" in teacher else MEASURED_RUN, str(config)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"factory run failed:\n{done.stderr[-3000:]}")
    peak = next(line for line in done.stderr.splitlines() if line.startswith("peak_rss_kib"))
    summary = json.loads((scratch / f"run-{count}" / "summary.json").read_text())
    sampled = count - sum(sum(reasons.values()) for reasons in summary["problems_dropped"].values())
    assert summary["samples"] == sampled * (4 if "scripted" in teacher else 1), summary
    dropped = {unit: sum(reasons.values()) for unit, reasons in summary["dropped"].items()}
    left_out = {unit: sum(reasons.values()) for unit, reasons in summary["problems_dropped"].items()}
    print(f"{count:7d} problems  kept {summary['kept']}, dropped by {dropped}, problems left out {left_out}")
    return int(peak.split()[1]), summary["wall_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--select", default=None, help="curate.select as a YAML list; default the run's own")
    parser.add_argument(
        "--scripted", action="store_true", help="a scripted teacher whose traces are all kept"
    )
    parser.add_argument("--corpus", action="store_true", help="decontamination and dedup on too")
    parser.add_argument(
        "--row-group-bytes",
        type=int,
        default=None,
        help="package.row_group_bytes: the shard writer holds up to one row group (100 MB by default)",
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    sizes = (args.problems, args.problems * args.factor)
    if args.scripted:
        teacher = "teacher: {model: scripted-teacher}\nsampling: {n: 4}\n"
        small, large = (
            measured_run(scratch, teacher, count, args.select, args.corpus, args.row_group_bytes)
            for count in sizes
        )
    else:
        port = free_port()
        server = start_server(embedded_model_dir(print), port, scratch / "vllm.log")
        teacher = (
            f"teacher: {{backend: http, base_url: 'http://127.0.0.1:{port}/v1', model: {SERVED_NAME},"
            f" max_concurrency: {args.concurrency}}}\nsampling: {{n: 1, max_tokens: 1}}\n"
        )
        try:
            small, large = (
                measured_run(scratch, teacher, count, args.select, args.corpus, args.row_group_bytes)
                for count in sizes
            )
        finally:
            stop_server(server)
    for count, (peak, seconds) in ((args.problems, small), (args.problems * args.factor, large)):
        print(f"{count:7d} problems  peak RSS {peak / 1024:7.1f} MiB  wall {seconds:6.1f} s")
    print(f"peak RSS {args.factor}x / 1x  {large[0] / small[0]:.3f}   (target <= 1.2)")


if __name__ == "__main__":
    main()
