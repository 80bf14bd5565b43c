"""The `http` teacher against a real vLLM OpenAI server on 127.0.0.1, started here.

Faults a healthy server will not produce on demand (429 with Retry-After, a 503 storm) come from a small
proxy in front of the real server; everything else reaches vLLM unchanged.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fault_proxy import SEEN_AS, FaultProxy, holding
from vllm_server import SECOND_NAME, SERVED_NAME, free_port, start_server, stop_server

from factory.cli import main
from factory.config import SamplingConfig, TeacherConfig, build
from factory.errors import FactoryError
from factory.ledger import read_curated, read_records
from factory.problems import read_problems
from factory.prompts import JUDGE, load_template
from factory.records import Sample
from factory.teachers import FixedRequests, SampleRequest, make_teacher

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def server(embedded_model, tmp_path_factory):
    port = free_port()
    process = start_server(embedded_model, port, tmp_path_factory.mktemp("server") / "vllm.log")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_server(process)


def run_behind(config: Path, *proxies: FaultProxy):
    """`factory run` on `config`, whose teacher goes through `proxies`; the proxies are closed after."""
    try:
        return CliRunner().invoke(main, ["run", str(config)])
    finally:
        for proxy in proxies:
            proxy.close()


def teacher_config(base_url: str, **overrides) -> TeacherConfig:
    data = {
        "backend": "http",
        "base_url": base_url,
        "model": SERVED_NAME,
        "extra_body": {"return_token_ids": True},
    }
    return build(TeacherConfig, data | overrides)


def problems(limit: int):
    from factory.config import ProblemsConfig

    return list(read_problems(ProblemsConfig(paths=["data/arithmetic.jsonl"], limit_per_file=limit)))


SAMPLING = SamplingConfig(n=2, temperature=0.7, max_tokens=48)
TEMPLATE = load_template("boxed_cot")


def generate_all(config: TeacherConfig, limit: int = 3):
    teacher = make_teacher(config, SAMPLING, log=lambda message: None)
    requests = [SampleRequest(problem, tuple(range(SAMPLING.n))) for problem in problems(limit)]
    return [
        sample
        for samples in teacher.stream(FixedRequests(requests), TEMPLATE, SAMPLING)
        for sample in samples
    ]


def test_chat_endpoint_returns_n_samples_per_problem(server):
    samples = generate_all(teacher_config(server))
    assert len(samples) == 6
    assert sorted((s.problem_id, s.sample_index) for s in samples) == sorted(
        (p.id, i) for p in problems(3) for i in range(2)
    )
    for sample in samples:
        assert sample.text and sample.finish_reason in ("stop", "length")
        assert sample.prompt_tokens > 20 and 0 < sample.completion_tokens <= 48
        assert (sample.teacher_backend, sample.teacher_model) == ("http", SERVED_NAME)
        assert sample.messages[1]["content"].startswith("Compute") and sample.prompt_text is None
        assert sample.latency_s > 0 and sample.sampling["max_tokens"] == 48


def test_completions_endpoint_for_raw_prompt_teachers(server):
    samples = generate_all(teacher_config(server, endpoint="completions"), limit=2)
    assert len(samples) == 4
    assert all(s.prompt_text.startswith("Solve the problem step by step") for s in samples)
    assert all(s.text and s.completion_tokens for s in samples)


def test_429_is_retried_after_retry_after(server):
    proxy = FaultProxy(server, faults=2, status=429, retry_after="1")
    try:
        started = time.monotonic()
        samples = generate_all(teacher_config(proxy.base_url, max_concurrency=1), limit=1)
    finally:
        proxy.close()
    assert len(samples) == 2
    assert len(proxy.posts) == 3  # two refusals, then the real answer
    assert (
        proxy.posts[1] - proxy.posts[0] >= 0.95 and proxy.posts[2] - proxy.posts[1] >= 0.95
    )  # Retry-After: 1
    assert time.monotonic() - started >= 2


@pytest.mark.reliability
def test_a_run_survives_every_kind_of_fault_at_a_fifth_of_its_requests(
    server, tmp_path, monkeypatch, reliability_figure
):
    secret = "sk-chaos-" + "5" * 24
    monkeypatch.setenv("FACTORY_TEST_KEY", secret)
    timeout_s, retries = 6, 4
    proxy = FaultProxy(server, every=5, stall_s=timeout_s + 1)  # 20 % of the POSTs, every kind in turn
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 40}\n"
        f"teacher: {{backend: http, base_url: '{proxy.base_url}', model: {SERVED_NAME}, max_concurrency: 4, "
        f"request_timeout_s: {timeout_s}, max_retries: {retries}, api_key_env: FACTORY_TEST_KEY, "
        "extra_body: {return_token_ids: true}}\n"
        "sampling: {n: 2, max_tokens: 24}\n"
    )
    result = run_behind(config, proxy)
    assert result.exit_code == 0, result.output
    assert set(proxy.injected) == set(SEEN_AS)  # every kind was injected
    seen = Counter()
    for kind, count in proxy.injected.items():
        seen[SEEN_AS[kind]] += count
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["faults"] == dict(seen)  # each fault counted once, under its kind
    assert (summary["problems"], summary["samples"], summary["failed_problems"]) == (40, 80, 0)
    assert max(Counter(proxy.bodies).values()) <= retries + 1  # no request tried more than its bound
    assert "Traceback" not in result.output + (run_dir / "logs" / "engine.log").read_text()
    leaks = holding(secret, run_dir, output=result.output)
    assert leaks == []
    reliability_figure(
        f"http: {sum(proxy.injected.values())} faults in {len(proxy.posts)} requests "
        f"({', '.join(f'{kind} {count}' for kind, count in proxy.injected.items())}), "
        f"{sum(seen.values())} survived; problems covered 40 of 40, failed 0; tracebacks 0; key leaks {len(leaks)}"
    )


def test_a_request_that_spends_its_retries_is_handed_back_or_stops_the_teacher(server):
    proxy = FaultProxy(server, faults=100, status=503, retry_after=None)
    try:
        source = FixedRequests([SampleRequest(problems(1)[0], (0, 1))])
        teacher = make_teacher(teacher_config(proxy.base_url, max_retries=1), SAMPLING, lambda message: None)
        assert list(teacher.stream(source, TEMPLATE, SAMPLING)) == []
        [(request, error)] = source.failures  # skip, the default: the source hears of it, the stream goes on
        assert request.indices == (0, 1) and len(proxy.posts) == 2
        assert "gave up after 2 attempts; last: HTTP 503" in error
        assert teacher.faults == {"http_503": 2}
        with pytest.raises(FactoryError, match=r"problem arithmetic-0001 failed .* gave up after 2 attempts"):
            generate_all(teacher_config(proxy.base_url, max_retries=1, on_request_error="fail"), limit=1)
    finally:
        proxy.close()


def test_an_unknown_model_stops_the_teacher_whatever_the_policy_and_is_not_retried(server):
    proxy = FaultProxy(server)
    try:
        with pytest.raises(FactoryError, match=r"teacher: HTTP 404 .* every request would be refused alike"):
            generate_all(teacher_config(proxy.base_url, model="no-such-model", max_retries=3), limit=3)
    finally:
        proxy.close()
    assert len(proxy.bodies) == len(set(proxy.bodies))  # no request was tried twice


def test_factory_run_over_http_with_an_api_key_that_is_never_written(server, tmp_path, monkeypatch):
    secret = "sk-test-" + "7" * 24
    monkeypatch.setenv("FACTORY_TEST_KEY", secret)
    proxy = FaultProxy(server)
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 4}\n"
        f"teacher: {{backend: http, base_url: '{proxy.base_url}', model: {SERVED_NAME}, "
        "api_key_env: FACTORY_TEST_KEY, extra_body: {return_token_ids: true}}\n"
        "sampling: {n: 2, max_tokens: 64}\n"
    )
    result = run_behind(config, proxy)
    assert result.exit_code == 0, result.output
    assert "pass rate" in result.output
    assert set(proxy.auth_headers) == {f"Bearer {secret}"}  # the key reached the server...
    assert holding(secret, run_dir, output=result.output) == []  # ...and no file of the run, no line holds it
    assert len(list((run_dir / "samples").glob("part-*.jsonl"))) == 1
    # The run's config snapshot names the variable, not the key.
    assert "api_key_env: FACTORY_TEST_KEY" in (run_dir / "config.yaml").read_text()


def test_missing_api_key_variable_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FACTORY_TEST_MISSING", raising=False)
    config = teacher_config("http://127.0.0.1:9/v1", api_key_env="FACTORY_TEST_MISSING")
    with pytest.raises(FactoryError, match="FACTORY_TEST_MISSING is not set"):
        make_teacher(config, SAMPLING, log=lambda message: None)


def test_failed_problems_are_retried_by_a_rerun_and_finished_ones_are_kept(server, tmp_path, monkeypatch):
    secret = "sk-failing-" + "3" * 24
    monkeypatch.setenv("FACTORY_TEST_KEY", secret)
    doomed = problems(4)[2]

    def failing() -> FaultProxy:
        return FaultProxy(server, status=503, retry_after=None, fail_body_containing=doomed.problem.encode())

    proxy = failing()
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 4}\n"
        f"teacher: {{backend: http, base_url: '{proxy.base_url}', model: {SERVED_NAME}, max_retries: 1, "
        "api_key_env: FACTORY_TEST_KEY}\n"
        "sampling: {n: 2, max_tokens: 32}\n"
    )
    skipped = run_behind(config, proxy)
    assert skipped.exit_code == 3, skipped.output  # on_request_error: skip, the default: incomplete
    assert "failed     1 problems after their retries" in skipped.output
    assert skipped.stderr.splitlines()[-1] == (
        "incomplete: 1 of 4 problems failed after their retries and are missing from the shards; "
        "run the same command again to ask for them"
    )
    [failure] = [json.loads(line) for line in (run_dir / "failed.jsonl").open()]
    assert failure["problem_id"] == doomed.id and "HTTP 503" in failure["error"]
    saved = {
        json.loads(line)["problem_id"]
        for part in (run_dir / "samples").glob("part-*.jsonl")
        for line in part.open()
    }
    assert saved == {p.id for p in problems(4)} - {doomed.id}  # the three that finished are on disk
    packaged = {
        row["problem_id"]
        for path in (run_dir / "shards").glob("*.parquet")
        for row in pq.read_table(path).to_pylist()
    }
    assert doomed.id not in packaged  # the run packaged what it had

    still_failing = failing()
    config.write_text(config.read_text().replace(proxy.base_url, still_failing.base_url))
    stopped = CliRunner().invoke(main, ["run", str(config), "--set", "teacher.on_request_error=fail"])
    still_failing.close()
    assert stopped.exit_code == 1
    assert re.fullmatch(
        rf"error: problem {doomed.id} failed against .*HTTP 503.*", stopped.stderr.splitlines()[-1]
    )
    assert holding(secret, run_dir, output=skipped.output + stopped.output) == []

    healthy = FaultProxy(server)
    config.write_text(config.read_text().replace(still_failing.base_url, healthy.base_url))
    rerun = run_behind(config, healthy)
    assert rerun.exit_code == 0, rerun.output
    assert len(healthy.posts) == 1  # only the missing problem was asked for
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["problems"], summary["samples"], summary["generated_now"]) == (4, 8, 2)
    assert summary["failed_problems"] == 0 and not (run_dir / "failed.jsonl").exists()


def test_a_larger_n_adds_draws_to_the_same_run(server, tmp_path):
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 2}\n"
        f"teacher: {{backend: http, base_url: '{server}', model: {SERVED_NAME}}}\n"
        "sampling: {n: 2, max_tokens: 16}\n"
    )
    assert CliRunner().invoke(main, ["run", str(config)]).exit_code == 0
    config.write_text(config.read_text().replace("n: 2", "n: 3"))
    more = CliRunner().invoke(main, ["run", str(config)])
    assert more.exit_code == 0, more.output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["samples"], summary["generated_now"]) == (6, 2)  # one more draw per problem
    indices = sorted(
        (row["problem_id"], row["sample_index"])
        for part in (run_dir / "samples").glob("part-*.jsonl")
        for row in map(json.loads, part.open())
    )
    assert [index for _, index in indices] == [0, 1, 2] * 2


def test_a_seeded_run_draws_again_with_other_seeds_and_counts_every_token(server, tmp_path):
    """With `sampling.seed`, vLLM answers the same request alike: the draws a raised n adds are asked with
    seeds of their own, so none repeats an earlier one; usage per request still gives each draw a count."""
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 3}\n"
        f"teacher: {{backend: http, base_url: '{server}', model: {SERVED_NAME}}}\n"
        "sampling: {n: 2, max_tokens: 24, temperature: 1.0, seed: 3}\n"
    )
    assert CliRunner().invoke(main, ["run", str(config)]).exit_code == 0
    more = CliRunner().invoke(main, ["run", str(config), "--set", "sampling.n=4"])
    assert more.exit_code == 0, more.output
    rows = list(read_records(run_dir / "samples"))
    assert len(rows) == 12
    assert len({(row["problem_id"], row["text"]) for row in rows}) == 12  # no draw made twice
    assert all(row["completion_tokens"] for row in rows)


def test_the_server_stops_mid_run_and_comes_back(embedded_model, tmp_path):
    """A real restart of `vllm serve` on the same port while `factory run` is generating: the run retries
    through the outage and finishes every problem."""
    port = free_port()
    log_path = tmp_path / "vllm.log"
    process = start_server(embedded_model, port, log_path)
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 8}\n"
        f"teacher: {{backend: http, base_url: 'http://127.0.0.1:{port}/v1', model: {SERVED_NAME},"
        " max_concurrency: 1, max_retries: 9}\n"
        "sampling: {n: 2, max_tokens: 48}\n"
    )
    result = {}
    runner = threading.Thread(
        target=lambda: result.update(run=CliRunner().invoke(main, ["run", str(config)]))
    )
    runner.start()
    try:
        samples_dir = run_dir / "samples"
        deadline = time.monotonic() + 300
        while not any(part.stat().st_size for part in samples_dir.glob("part-*.jsonl")):
            assert time.monotonic() < deadline and runner.is_alive(), result
            time.sleep(0.2)
        stop_server(process)  # mid-run: later problems are still to come
        stopped_with = {
            row["problem_id"]
            for part in samples_dir.glob("part-*.jsonl")
            for row in map(json.loads, part.open())
        }
        assert len(stopped_with) < 8
        time.sleep(3)
        process = start_server(embedded_model, port, log_path)
        runner.join(timeout=600)
    finally:
        stop_server(process)
    run = result["run"]
    assert run.exit_code == 0, run.output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["problems"], summary["samples"]) == (8, 16)  # no problem lost


def test_adaptive_sampling_stops_a_problem_once_it_has_enough_kept(server, tmp_path):
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/basic.jsonl], limit_per_file: 6}\n"
        f"teacher: {{backend: http, base_url: '{server}', model: {SERVED_NAME}}}\n"
        "sampling: {n: 2, max_tokens: 64, temperature: 0.8}\n"
        "adaptive: {target_kept: 1, max_samples: 6}\n"
    )
    result = CliRunner().invoke(main, ["run", str(config)])
    assert result.exit_code == 0, result.output
    verdicts = list(read_records(run_dir / "verdicts"))
    kept = {trace.sample_key for curation in read_curated(run_dir / "curated") for trace in curation.kept}
    stats = {row["problem_id"]: row for row in map(json.loads, (run_dir / "problem_stats.jsonl").open())}
    assert len(stats) == 6
    for problem_id, row in stats.items():
        mine = sorted(
            (v["sample_index"], v["sample_key"] in kept) for v in verdicts if v["problem_id"] == problem_id
        )
        assert [index for index, _ in mine] == list(range(row["samples"]))  # rounds of 2 draws, in order
        assert row["samples"] in (2, 4, 6)
        if row["kept"] == 0:
            assert row["samples"] == 6  # unsolved: the whole budget was spent
        else:
            # solved: sampling stopped after the round that brought the first kept trace
            assert not any(kept for index, kept in mine[: row["samples"] - 2])
    again = CliRunner().invoke(main, ["run", str(config)])
    assert again.exit_code == 0, again.output
    assert json.loads((run_dir / "summary.json").read_text())["generated_now"] == 0  # resumes exactly


def test_requests_spread_over_several_servers_and_a_dead_one_is_taken_out(server, tmp_path):
    first, second = FaultProxy(server), FaultProxy(server)
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 8}\n"
        f"teacher: {{backend: http, base_url: ['{dead}', '{first.base_url}', '{second.base_url}'],"
        f" model: {SERVED_NAME}, max_concurrency: 2, max_retries: 3}}\n"
        "sampling: {n: 1, max_tokens: 16}\n"
    )
    result = run_behind(config, first, second)
    assert result.exit_code == 0, result.output
    assert f"http: {dead} out for" in result.output  # taken out; its requests went elsewhere
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["problems"], summary["samples"]) == (8, 8)
    assert first.posts and second.posts and len(first.posts) + len(second.posts) == 8  # both servers worked


def test_a_rerun_verifies_and_packages_what_a_crash_left_behind(server, tmp_path):
    """Samples whose verdicts were lost, a shard that was never renamed into place, and a gold answer fixed
    after the run: the re-run generates nothing and rebuilds verdicts and shards from the samples on disk."""
    data = tmp_path / "problems.jsonl"
    rows = [json.loads(line) for line in Path("data/basic.jsonl").open()][:4]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\nproblems: {{paths: ['{data}']}}\n"
        f"teacher: {{backend: http, base_url: '{server}', model: {SERVED_NAME}}}\n"
        "sampling: {n: 3, max_tokens: 96}\n"
    )
    assert CliRunner().invoke(main, ["run", str(config)]).exit_code == 0
    # One answer has its problem's gold corrected after the run: to that answer if it was wrong, to another
    # number if it was right.
    answered = next(
        v for v in read_records(run_dir / "verdicts") if v["extracted"] and v["status"] != "cannot_tell"
    )
    new_gold = "-123457" if answered["status"] == "correct" else answered["extracted"]
    for row in rows:
        if row["id"] == answered["problem_id"]:
            row["answer"] = new_gold
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    # And the last run died before writing verdicts and before renaming its shard into place.
    shutil.rmtree(run_dir / "verdicts")
    for shard in (run_dir / "shards").glob("*.parquet"):
        shard.rename(shard.with_name(f".{shard.name}.tmp"))

    rerun = CliRunner().invoke(main, ["run", str(config)])
    assert rerun.exit_code == 0, rerun.output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["generated_now"], summary["samples"]) == (0, 12)
    verdicts = list(read_records(run_dir / "verdicts"))
    assert len(verdicts) == 12 and len({v["sample_key"] for v in verdicts}) == 12
    kept = [trace.sample_key for curation in read_curated(run_dir / "curated") for trace in curation.kept]
    assert summary["kept"] == len(kept)
    wrong = Counter(v["reason"] for v in verdicts if v["status"] != "correct")
    assert summary["dropped"].get("verifier", {}) == dict(wrong)
    fixed = next(v for v in verdicts if v["sample_key"] == answered["sample_key"])
    assert fixed["gold"] == new_gold and fixed["status"] != answered["status"]  # judged again
    shards = [
        row for path in (run_dir / "shards").glob("*.parquet") for row in pq.read_table(path).to_pylist()
    ]
    assert sorted(row["sample_key"] for row in shards) == sorted(kept)
    assert not list((run_dir / "shards").glob(".*"))  # the leftover was removed, not read


def test_two_teachers_share_one_run_and_are_counted_apart(server, tmp_path):
    first, second = FaultProxy(server), FaultProxy(server)
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 8}\n"
        "teachers:\n"
        f"  - {{backend: http, base_url: '{first.base_url}', model: {SERVED_NAME}, max_concurrency: 1}}\n"
        f"  - {{backend: http, base_url: '{second.base_url}', model: {SECOND_NAME}, max_concurrency: 1}}\n"
        "sampling: {n: 2, max_tokens: 16}\n"
    )
    result = run_behind(config, first, second)
    assert result.exit_code == 0, result.output
    samples = list(read_records(run_dir / "samples"))
    assert len(samples) == 16 and len({(s["problem_id"], s["sample_index"]) for s in samples}) == 16
    made_by = {s["teacher_model"] for s in samples}
    assert made_by == {SERVED_NAME, SECOND_NAME}  # both pulled requests from the one queue
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["teachers"]) == {f"http:{SERVED_NAME}", f"http:{SECOND_NAME}"}
    assert sum(counts["samples"] for counts in summary["teachers"].values()) == 16
    assert f"teacher    http:{SECOND_NAME}:" in result.output

    # The same command again reuses every sample, whichever teacher made it.
    again = CliRunner().invoke(main, ["run", str(config)])
    assert again.exit_code == 0, again.output
    assert json.loads((run_dir / "summary.json").read_text())["generated_now"] == 0


def test_a_local_vllm_and_an_http_server_share_one_run(server, tmp_path):
    """Offline vLLM in the run's own process beside an HTTP endpoint, pulling from one queue. The endpoint
    holds its first request until the local engine (which loads for a while) has delivered, so both work."""
    local_has_delivered = threading.Event()
    proxy = FaultProxy(server, hold=local_has_delivered)
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 6}\n"
        "teachers:\n"
        "  - {backend: vllm, model: embedded:smollm2-135m-instruct, max_model_len: 1024, dtype: float32,"
        " enforce_eager: true, window: 2}\n"
        f"  - {{backend: http, base_url: '{proxy.base_url}', model: {SERVED_NAME}, max_concurrency: 1}}\n"
        "sampling: {n: 2, temperature: 0.7, max_tokens: 24, seed: 0}\n"
    )
    command = [sys.executable, "-m", "factory.cli", "run", str(config)]
    try:
        with (tmp_path / "run.log").open("w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while process.poll() is None and not local_has_delivered.is_set():
            if any(s["teacher_backend"] == "vllm" for s in read_records(run_dir / "samples")):
                local_has_delivered.set()
            assert time.monotonic() < deadline, "the local engine delivered nothing in 600 s"
            time.sleep(0.5)
        local_has_delivered.set()
        process.wait(timeout=600)
    finally:
        local_has_delivered.set()
        proxy.close()
    output = (tmp_path / "run.log").read_text()
    assert process.returncode == 0, output[-3000:]
    samples = list(read_records(run_dir / "samples"))
    assert len(samples) == 12 and len({(s["problem_id"], s["sample_index"]) for s in samples}) == 12
    assert {s["teacher_backend"] for s in samples} == {"vllm", "http"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["teachers"]) == {"vllm:embedded:smollm2-135m-instruct", f"http:{SERVED_NAME}"}
    assert summary["kept"] == sum(counts["kept"] for counts in summary["teachers"].values())

    # The same command again reuses every sample, and the local engine is never started.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "vLLM ready" not in again.stderr
    assert json.loads((run_dir / "summary.json").read_text())["generated_now"] == 0


def test_samples_made_offline_are_reused_when_the_run_moves_to_a_server(server, embedded_model, tmp_path):
    """Keys leave the backend out: half the problems are made by offline vLLM, then the same run moves to a
    server of the same model (other engine settings, `return_token_ids`) and makes only the other half."""
    run_dir, model = tmp_path / "run", str(embedded_model)
    common = f"run_dir: {run_dir}\nsampling: {{n: 2, temperature: 0.7, max_tokens: 24, seed: 0}}\n"
    offline = tmp_path / "offline.yaml"
    offline.write_text(
        common + "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 2}\n"
        f"teacher: {{backend: vllm, model: '{model}', max_model_len: 1024, dtype: float32, enforce_eager: true}}\n"
    )
    first = subprocess.run(
        [sys.executable, "-m", "factory.cli", "run", str(offline)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr[-3000:]

    served = tmp_path / "served.yaml"
    served.write_text(
        common + "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 4}\n"
        f"teacher: {{backend: http, base_url: '{server}', model: '{model}', extra_body: {{return_token_ids: true}}}}\n"
    )
    moved = CliRunner().invoke(main, ["run", str(served)])
    assert moved.exit_code == 0, moved.output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["samples"], summary["generated_now"]) == (8, 4)  # the offline half was reused
    made = Counter(s["teacher_backend"] for s in read_records(run_dir / "samples"))
    assert made == {"vllm": 4, "http": 4}


def test_the_model_judge_rules_only_on_what_the_rules_cannot_tell_and_once(server, tmp_path, monkeypatch):
    """The plumbing, not the judge's wisdom: the served SmolLM2 both samples and judges. One problem's gold
    is unreadable, so its finished samples are ones the rules cannot tell."""
    secret = "sk-judge-" + "3" * 24
    monkeypatch.setenv("FACTORY_TEST_JUDGE_KEY", secret)
    rows = [json.loads(line) for line in Path("data/arithmetic.jsonl").read_text().splitlines()[:3]]
    rows[1]["answer"] = r"\frac{-71}{"
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    judge = FaultProxy(server)
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\nproblems: {{paths: ['{data}']}}\n"
        f"teacher: {{backend: http, base_url: '{server}', model: {SERVED_NAME}}}\n"
        "sampling: {n: 2, max_tokens: 192, seed: 0}\n"
        f"reject: {{judge: {{base_url: '{judge.base_url}', model: {SERVED_NAME}, max_tokens: 32,"
        " api_key_env: FACTORY_TEST_JUDGE_KEY}}\n"
    )
    try:
        result = CliRunner().invoke(main, ["run", str(config)])
        asked = len(judge.posts)
        rerun = CliRunner().invoke(main, ["run", str(config)])
    finally:
        judge.close()
    assert result.exit_code == 0, result.output
    samples = {Sample.from_dict(row).key(): row for row in read_records(run_dir / "samples")}
    texts = {key: row["text"] for key, row in samples.items()}
    verdicts = list(read_records(run_dir / "verdicts"))
    judged = [v for v in verdicts if v["verifier"] == f"judge:{SERVED_NAME}"]
    assert judged, "no finished sample of the problem with an unreadable gold"
    for verdict in verdicts:  # what the rules decided, and what was cut off at max_tokens, was never sent
        if verdict not in judged:
            cut_off = samples[verdict["sample_key"]]["finish_reason"] == "length"
            assert verdict["status"] != "cannot_tell" or cut_off, verdict
            assert verdict["judge_reply"] is None and verdict["judge_prompt_hash"] is None
    prompts = [json.loads(body)["messages"][-1]["content"] for body in judge.bodies]
    replies = [json.loads(reply)["choices"][0]["message"]["content"] for reply in judge.replies]
    assert len(prompts) == len(judged)  # one request per sample the rules cannot tell
    template_hash = load_template("same_answer", JUDGE).hash
    for verdict in judged:
        shown = f"<response>\n{texts[verdict['sample_key']]}\n</response>"
        assert sum(shown in prompt for prompt in prompts) == 1
        assert verdict["rule_reason"]  # why the rules could not tell stays visible
        assert verdict["judge_prompt_hash"] == template_hash and verdict["judge_reply"] in replies
        assert verdict["reason"] in ("judge_same", "judge_different", "judge_unclear")
    assert set(judge.auth_headers) == {f"Bearer {secret}"}
    for path in run_dir.rglob("*"):  # the judge's key is in no file of the run
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["judged"]["samples"] == len(judged) and summary["judge"] == f"judge:{SERVED_NAME}"
    assert f"judged     by model (judge:{SERVED_NAME}): {len(judged)} (" in result.output

    # The same command again: the verdicts on disk are reused, and the judge is asked nothing.
    assert rerun.exit_code == 0, rerun.output
    assert len(judge.posts) == asked
    assert json.loads((run_dir / "summary.json").read_text())["judged"] == summary["judged"]
