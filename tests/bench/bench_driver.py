"""How many samples per second one factory driver absorbs, and where its time goes.

The teacher answers every request at once (an instant teacher in the measured process: each draw a short
worked sum ending in the right `\\boxed{}` answer), so what is measured is the pipeline alone, end to end
through `factory.job.run`: the sample journal with its group commit, verification of the boxed numbers,
curation with the default trace filters and selection, the verdict and curation journals, the shards and
the summary. Problems are generated here (a + b, answers computed, no public data). Each run is a fresh
process and a fresh run folder.

Each round prints samples/s, the seconds of the stream (generation, verification, curation) and of what
comes before and after it (reading the problems, the shards), the CPU seconds of the driver and of the
verifier's process pool (only symbolic comparisons go there; a sum's answer never does), and the peak RSS
(`ru_maxrss`) of the driver. A run over a million problems (`--problems 1000000 --n 1`, problems streamed
from the JSONL file generated here) is the memory-at-scale figure.

`--profile` runs cProfile in every thread of the driver (the writer, the teacher's thread, the checker and
the verifier's threads), merged, and prints the top functions by own and by cumulative time. Profiling
slows the run (by about half): samples/s are measured without it. `--against DIR` alternates rounds with
another checkout (`git archive HEAD | tar -x -C DIR`), for a before/after on the same machine minute.
`--again` runs each round's config a second time on its folder, a resume that finds everything made (the
ledger reads every key, verdict and curation back), and prints its peak RSS.

    .venv/bin/python tests/bench/bench_driver.py [--problems 20000] [--n 4] [--rounds 2] [--profile]
        [--against DIR] [--again] [--row-group-bytes N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The teacher of the measured processes (here and in bench_memory.py --scripted), as source: it runs in
# whichever checkout `--against` names, whose tests/ may not have it.
INSTANT_TEACHER = r"""
from scripted_teacher import TEACHER_MODEL
from factory.teachers import SampleContext, sampling_record

class InstantTeacher:
    backend, model = "scripted", TEACHER_MODEL

    def stream(self, source, template, sampling):
        recorded = sampling_record(sampling)
        while (request := source.poll(block=True)) is not None:
            problem = request.problem
            asked = SampleContext(problem.id, template.messages(problem.problem), template=template,
                                  backend=self.backend, model=self.model, sampling=recorded)
            text = (f"We add the two numbers column by column, carrying where needed: {problem.problem[8:-1]}."
                    f"\nSo the answer is $\\boxed{{{problem.answer}}}$.")
            yield [asked.sample(index, text=text, finish_reason="stop", prompt_tokens=40,
                                completion_tokens=30, latency_s=0.0) for index in request.indices]

    def close(self):
        pass
"""

# The measured process: argv = config path, profile output path or "".
DRIVER = (
    r"""
import cProfile, json, resource, sys, threading, time
import psutil
sys.path.insert(0, "tests")
from factory.config import RunConfig, load_config
try:
    import factory.job as job
except ImportError:  # a checkout from before factory/run.py was renamed (--against)
    import factory.run as job
run = job.run
"""
    + INSTANT_TEACHER
    + r"""
config_path, profile_path = sys.argv[1], sys.argv[2]
marks = {"rss_before_package_mib": 0.0, "package_s": 0.0}
packaging = job.package

def measured_package(*args, **kwargs):
    marks["rss_before_package_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    try:
        return packaging(*args, **kwargs)
    finally:
        marks["package_s"] = time.monotonic() - started

job.package = measured_package
profiles = []
if profile_path:
    original_run = threading.Thread.run

    def profiled_run(thread):
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.runcall(original_run, thread)

    threading.Thread.run = profiled_run
    main_profile = cProfile.Profile()
    profiles.append(main_profile)
    main_profile.enable()
started = time.monotonic()
summary = run(load_config(RunConfig, config_path), lambda line: None, start_teacher=InstantTeacher)
wall = time.monotonic() - started
if profile_path:
    main_profile.disable()
    import pstats
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        try:
            stats.add(profile)
        except TypeError:  # a thread still running (a daemon) has no stats to give
            pass
    stats.dump_stats(profile_path)
me = psutil.Process()
children = sum(c.cpu_times().user + c.cpu_times().system for c in me.children(recursive=True))
own = me.cpu_times()
print(json.dumps({
    "samples": summary.samples, "kept": summary.kept, "wall": wall, "generated_now": summary.generated_now,
    "generate_seconds": summary.generate_seconds,
    "driver_cpu": own.user + own.system, "pool_cpu": children,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **marks,
}))
"""
)


def write_problems(path: Path, count: int) -> None:
    import random

    rng = random.Random(count)
    with path.open("w") as handle:
        for index in range(count):
            a, b = rng.randint(10, 99_999), rng.randint(10, 99_999)
            handle.write(
                json.dumps({"id": f"d{index}", "problem": f"What is {a} + {b}?", "answer": str(a + b)}) + "\n"
            )


def measured_run(
    scratch: Path,
    name: str,
    problems: Path,
    args: argparse.Namespace,
    profile: Path | None,
    tree: Path = ROOT,
) -> dict:
    config = scratch / f"{name}.yaml"
    config.write_text(
        f"run_dir: {scratch / name}\n"
        f"problems: {{paths: ['{problems}']}}\n"
        "teacher: {model: scripted-teacher}\n"
        f"sampling: {{n: {args.n}}}\n"
        + (f"package: {{row_group_bytes: {args.row_group_bytes}}}\n" if args.row_group_bytes else "")
    )
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(config), str(profile or "")],
        check=False,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=20_000)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another checkout of factory (e.g. `git archive` of a commit): its rounds alternate with this one's",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="run each round's config a second time on its folder: a resume that finds everything made",
    )
    parser.add_argument(
        "--row-group-bytes",
        type=int,
        default=None,
        help="package.row_group_bytes: the shard writer holds up to one row group (100 MB by default)",
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-driver-"))
    try:
        measure(args, scratch)
    finally:
        shutil.rmtree(scratch)  # a million samples take gigabytes


def measure(args: argparse.Namespace, scratch: Path) -> None:
    print("command: .venv/bin/python", " ".join(sys.argv))
    problems = scratch / "problems.jsonl"
    write_problems(problems, args.problems)
    print(f"{args.problems} problems x n = {args.n}: {args.problems * args.n} samples per run")
    trees = [("this tree", ROOT)] + ([(str(args.against), args.against.resolve())] if args.against else [])
    rates: dict[str, list[float]] = {name: [] for name, _ in trees}
    for number in range(args.rounds):
        # Alternating, and in turn first: a machine that gets busier favours neither.
        for name, tree in trees if number % 2 == 0 else trees[::-1]:
            run_name = f"run-{number}-{'ab'[trees.index((name, tree))]}"
            result = measured_run(scratch, run_name, problems, args, None, tree)
            rate = result["samples"] / result["wall"]
            rates[name].append(rate)
            print(
                f"round {number + 1} ({name}): {result['samples']} samples ({result['kept']} kept) in "
                f"{result['wall']:.1f} s = {rate:,.0f} samples/s end to end; "
                f"stream {result['generate_seconds']:.1f} s, packaging {result['package_s']:.1f} s, the "
                f"rest (reading the problems...) {result['wall'] - result['generate_seconds'] - result['package_s']:.1f} s; "
                f"CPU: driver {result['driver_cpu']:.1f} s, verifier pool {result['pool_cpu']:.1f} s; "
                f"peak RSS {result['peak_rss_mib']:.1f} MiB ({result['rss_before_package_mib']:.1f} before packaging)"
            )
            if args.again:
                again = measured_run(scratch, run_name, problems, args, None, tree)
                print(
                    f"round {number + 1} ({name}) again on its folder: {again['generated_now']} samples "
                    f"generated, {again['wall']:.1f} s, peak RSS {again['peak_rss_mib']:.1f} MiB"
                )
            shutil.rmtree(scratch / run_name)
    for name, measured in rates.items():
        if measured:
            print(f"{name}: mean {sum(measured) / len(measured):,.0f} samples/s over {len(measured)} rounds")
    if args.profile:
        import pstats

        path = scratch / "driver.prof"
        result = measured_run(scratch, "profiled", problems, args, path)
        print(f"profiled run: {result['samples']} samples in {result['wall']:.1f} s (slowed by the profiler)")
        stats = pstats.Stats(str(path))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
