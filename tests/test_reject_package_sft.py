"""Verdicts → shards → `datasets` → TRL's SFTTrainer, on records built here (no engine needed)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.config import RejectConfig
from factory.curate import kept_trace
from factory.errors import FactoryError
from factory.package import SCHEMA, ShardWriter, to_row
from factory.prompts import load_template
from factory.records import Problem, ProblemCuration, Sample, SampleVerdict
from factory.reject import verdicts_for
from factory.storage import write_json
from factory.teachers import SampleContext

TEMPLATE = load_template("boxed_cot")


def problem(pid: str, answer: str) -> Problem:
    return Problem(id=pid, problem=f"Compute the value of {pid}.", answer=answer, source="test:1")


def sample(
    pid: str, index: int, text: str, finish_reason: str = "stop", reasoning: str | None = None
) -> Sample:
    asked = SampleContext(
        pid,
        TEMPLATE.messages(f"Compute the value of {pid}."),
        template=TEMPLATE,
        backend="vllm",
        model="teacher-under-test",
        sampling={"n": 4, "temperature": 0.7},
    )
    return asked.sample(
        index,
        text=text,
        reasoning=reasoning,
        finish_reason=finish_reason,
        prompt_tokens=40,
        completion_tokens=len(text.split()),
        latency_s=1.5,
    )


PROBLEMS = {"a": problem("a", "7"), "b": problem("b", "1/2")}
SAMPLES = [
    sample("a", 0, r"3 + 4 = 7, so the answer is \boxed{7}."),
    sample("a", 1, r"3 + 4 = 8, so \boxed{8}."),
    sample("a", 2, "I am not sure.\nSorry."),
    sample("a", 3, r"Long reasoning that was cut off... \boxed{7}", finish_reason="length"),
    sample("b", 0, r"Half: \boxed{\frac{1}{2}}", reasoning="1 divided by 2 is one half."),
    sample("b", 1, "So it is 0.5 overall.\nDone.", finish_reason="stop"),
]


def judged(config: RejectConfig) -> list[SampleVerdict]:
    return list(verdicts_for(SAMPLES, PROBLEMS, config))


def test_verdicts_are_the_verifiers_outcome_only():
    verdicts = judged(RejectConfig())
    assert [(v.correct, v.reason) for v in verdicts] == [
        (True, "exact_match"),
        (False, "wrong_answer"),
        (False, "no_answer"),
        (True, "exact_match"),  # truncated, but the answer is right: dropping it is the curate stage's call
        (True, "equal_value"),
        (False, "no_answer"),  # no box, no marker and no pattern configured
    ]


def test_answer_patterns():
    verdicts = judged(RejectConfig(answer_patterns=[r"it is (\S+) overall"]))
    assert [v.correct for v in verdicts] == [True, False, False, True, True, True]
    assert verdicts[5].extracted == "0.5" and verdicts[5].reason == "equal_value"


@pytest.fixture
def shards_dir(tmp_path):
    verdicts = judged(RejectConfig())
    shards = tmp_path / "shards"
    # A byte limit below one row's size: each row gets a shard of its own.
    writer = ShardWriter(
        shards, "train", SCHEMA, max_shard_bytes=100, row_group_bytes=100, compression="zstd"
    )
    for sample, verdict in zip(SAMPLES, verdicts, strict=True):
        if verdict.correct and sample.finish_reason != "length":
            curation = ProblemCuration(sample.problem_id, 4, 2, verdict.gold, "given", kept=[], excluded=[])
            writer.add(to_row(sample, kept_trace(verdict), PROBLEMS[sample.problem_id], curation))
    writer.close()
    assert [p.name for p in writer.paths] == ["train-00000.parquet", "train-00001.parquet"]
    assert not list(shards.glob(".*"))  # no temporary file left behind
    write_json(shards / "manifest.json", {"counts": {"kept": 2}})  # as a run writes it, beside the shards
    return shards


def test_shards_hold_prompt_trace_answer_and_provenance(shards_dir):
    table = pq.read_table(shards_dir / "train-00001.parquet")
    (row,) = table.to_pylist()
    assert row["prompt"] == TEMPLATE.messages("Compute the value of b.")
    assert row["trace"] == "<think>\n1 divided by 2 is one half.\n</think>\n\n" + r"Half: \boxed{\frac{1}{2}}"
    assert row["completion"] == [{"role": "assistant", "content": row["trace"]}]
    assert (row["answer"], row["gold_answer"]) == (r"\frac{1}{2}", "1/2")
    assert (row["problem_id"], row["sample_index"], row["teacher_model"]) == ("b", 0, "teacher-under-test")
    assert json.loads(row["sampling_params"]) == {"n": 4, "temperature": 0.7}
    assert (row["verdict_status"], row["verdict_reason"]) == ("correct", "equal_value")
    assert row["prompt_hash"] == TEMPLATE.hash
    assert (
        pq.ParquetFile(shards_dir / "train-00001.parquet").metadata.row_group(0).column(0).compression
        == "ZSTD"
    )


@pytest.mark.sft
def test_shards_feed_sft_trainer_with_completion_only_loss(shards_dir, tiny_model, tmp_path):
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    dataset = load_dataset("parquet", data_dir=str(shards_dir), split="train")  # no column mapping
    assert dataset.num_rows == 2
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=256,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
    )
    trainer = SFTTrainer(model=str(tiny_model), args=args, train_dataset=dataset)
    tokenized = trainer.train_dataset[0]
    labels, input_ids = tokenized["labels"], tokenized["input_ids"]
    prompt_ids = trainer.processing_class.apply_chat_template(
        dataset[0]["prompt"], tokenize=True, add_generation_prompt=True
    )
    prompt_ids = prompt_ids["input_ids"] if hasattr(prompt_ids, "keys") else prompt_ids
    # The loss falls on the completion only: every prompt token is masked out (-100), every trace token is not.
    assert input_ids[: len(prompt_ids)] == list(prompt_ids)
    assert labels[: len(prompt_ids)] == [-100] * len(prompt_ids)
    assert labels[len(prompt_ids) :] == input_ids[len(prompt_ids) :] and len(labels) > len(prompt_ids)
    result = trainer.train()
    assert result.global_step == 2


@pytest.mark.sft
def test_factory_sft_cli_trains_and_warns_on_long_traces(shards_dir, tiny_model, tmp_path):
    config = tmp_path / "sft.yaml"
    config.write_text(
        f"data_dir: {shards_dir}\nmodel: {tiny_model}\noutput_dir: {tmp_path / 'student'}\nmax_length: 90\n"
        "training: {max_steps: 1, per_device_train_batch_size: 2, use_cpu: true, report_to: none, save_strategy: 'no'}\n"
    )
    result = CliRunner().invoke(main, ["sft", str(config)])
    assert result.exit_code == 0, result.output
    assert "warning: round trip: 1 of 2 rows exceed max_length=90 tokens (longest 96)" in result.output
    assert (tmp_path / "student" / "model.safetensors").exists()
    # A max_length that no prompt fits in is refused up front instead of crashing inside TRL.
    result = CliRunner().invoke(main, ["sft", str(config), "--set", "max_length=40"])
    assert result.exit_code == 1
    assert "error: max_length: 40 tokens leaves no room for any trace after its prompt" in result.output


def test_load_shards_reads_the_train_config_only(tmp_path):
    from factory.sft import load_shards

    messages = TEMPLATE.messages("Compute the value of a.")
    trace = [{"role": "assistant", "content": r"\boxed{7}"}]
    for index in range(2):
        table = pa.table({"prompt": [messages], "completion": [trace], "problem_id": [f"p{index}"]})
        pq.write_table(table, tmp_path / f"train-00000-0000{index}.parquet")
    # The other configs live beside the train shards, with other columns.
    pq.write_table(
        pa.table({"prompt": ["p"], "chosen": ["c"], "rejected": ["r"]}), tmp_path / "preference-00000.parquet"
    )
    wrong = [{"role": "assistant", "content": r"\boxed{8}"}]
    pq.write_table(
        pa.table(
            {
                "prompt": [messages],
                "completion": [wrong],
                "problem_id": ["p2"],
                "drop_reason": ["wrong_answer"],
            }
        ),
        tmp_path / "rejected-00000.parquet",
    )
    dataset = load_shards(tmp_path)
    assert dataset["problem_id"] == ["p0", "p1"] and dataset[0]["completion"] == trace
    assert "chosen" not in dataset.column_names
    # Every draw, unfiltered (the RFT recipe's control): train and rejected, on their common columns.
    everything = load_shards(tmp_path, ["train", "rejected"])
    assert everything["problem_id"] == ["p0", "p1", "p2"] and everything[2]["completion"] == wrong
    assert everything.column_names == ["prompt", "completion", "problem_id"]
    for path in tmp_path.glob("train-*.parquet"):
        path.unlink()
    with pytest.raises(FactoryError, match=r"no train shards \(train-\*\.parquet\)"):
        load_shards(tmp_path)
    for path in tmp_path.glob("rejected-*.parquet"):
        path.unlink()
    with pytest.raises(FactoryError, match=r"no rejected shards .*package.rejected: true"):
        load_shards(tmp_path, ["rejected"])


def test_factory_sft_cli_errors(tmp_path):
    config = tmp_path / "sft.yaml"
    config.write_text(f"data_dir: {tmp_path / 'none'}\ntraining: {{max_stepz: 1}}\n")
    result = CliRunner().invoke(main, ["sft", str(config)])
    assert result.exit_code == 1
    assert "training.max_stepz: not a field of trl.SFTConfig" in result.output
    config.write_text(f"data_dir: {tmp_path / 'none'}\n")
    result = CliRunner().invoke(main, ["sft", str(config)])
    assert result.exit_code == 1 and "no train shards" in result.output


def test_nothing_kept_writes_no_shard(tmp_path):
    shards = tmp_path / "shards"
    writer = ShardWriter(shards, "train", SCHEMA, 1000, 1000, "zstd")
    writer.close()
    assert writer.paths == [] and not shards.exists()
