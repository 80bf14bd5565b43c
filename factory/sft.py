"""`factory sft`: train a student on a run's shards with TRL's SFTTrainer.

The shards are TRL conversational prompt-completion rows, so the dataset goes in as `datasets` loads it
and the loss falls on the completion (the teacher's trace) only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from factory.config import SFTRunConfig
from factory.embedded import resolve_model
from factory.errors import FactoryError
from factory.roundtrip import RoundTrip, RoundTripReport, RowCheck
from factory.storage import write_json
from factory.teachers import Log

BATCH = 512  # rows checked per tokenizer call in the round trip
TRAINING_RECORD = "factory-sft.json"


def load_shards(data_dir: str | Path, configs: Sequence[str] = ("train",)) -> Any:
    """The rows of a run's shards as one `datasets.Dataset`: the `train` config (`train-*.parquet`), and
    `rejected` (every sample curation dropped) when asked. Their common columns, prompt and completion
    first, are what SFTTrainer reads. The `preference` config's columns differ; it is never read here."""
    from datasets import concatenate_datasets, load_dataset

    data_dir = Path(data_dir)
    parts = []
    for name in configs:
        if not any(data_dir.glob(f"{name}-*.parquet")):
            raise FactoryError(
                f"data_dir: no {name} shards ({name}-*.parquet) in {data_dir}; "
                + (
                    "run `factory run CONFIG` first (a run that kept no trace writes none: see its summary)"
                    if name == "train"
                    else "run `factory run CONFIG` with package.rejected: true"
                )
            )
        parts.append(load_dataset("parquet", data_files=str(data_dir / f"{name}-*.parquet"), split="train"))
    if len(parts) == 1:
        return parts[0]
    common = [
        column for column in parts[0].column_names if all(column in part.column_names for part in parts)
    ]
    return concatenate_datasets([part.select_columns(common) for part in parts])


def check_round_trip(
    dataset: Any, round_trip: RoundTrip, policy: str, log: Log
) -> tuple[Any, RoundTripReport]:
    """Render every row as SFTTrainer will and apply `policy` (warn | drop | fail) to the damaged ones.

    Returns the dataset to train on (without the damaged rows under `drop`) and the report.
    """
    report = round_trip.report(policy)
    checks: list[RowCheck] = []
    rows = dataset.select_columns(["prompt", "completion"])
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        checks.extend(round_trip.check_many(list(zip(batch["prompt"], batch["completion"], strict=True))))
    for check in checks:
        report.add(check)
    if checks and all(check.prompt_fills for check in checks):
        # TRL would drop every row and fail deep inside the trainer on an empty dataset.
        raise FactoryError(
            f"max_length: {round_trip.max_length} tokens leaves no room for any trace after its prompt; raise it"
        )
    message = report.message(setting="round_trip")
    if message is None:
        return dataset, report
    if policy == "fail":
        raise FactoryError(message)
    if policy == "drop":
        keep = [index for index, check in enumerate(checks) if check.reason is None]
        if not keep:
            raise FactoryError(f"{message} Nothing is left to train on.")
        log(message)
        return dataset.select(keep), report
    log(f"warning: {message}")
    return dataset, report


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def train(config: SFTRunConfig, log: Log) -> dict[str, Any]:
    try:
        from trl import SFTConfig, SFTTrainer
    except ImportError as error:
        raise FactoryError(
            f"factory sft needs TRL ({error}); install it with pip install -e '.[sft]'"
        ) from None

    valid = {f.name for f in dataclasses.fields(SFTConfig)}
    for key in config.training:
        if key not in valid:
            raise FactoryError(
                f"training.{key}: not a field of trl.SFTConfig (see its documentation for valid ones)"
            )
    dataset = load_shards(config.data_dir, config.configs)
    if len(dataset) == 0:
        raise FactoryError(f"{config.data_dir}: the shards hold no kept traces; nothing to train on")
    model = resolve_model(config.model, log)
    # SFTTrainer installs a Jinja `chat_template_path` on the tokenizer before tokenizing: check with it too.
    template_path = config.training.get("chat_template_path")
    if not (isinstance(template_path, str) and template_path.endswith((".jinja", ".j2"))):
        template_path = None
    round_trip = RoundTrip.load(config.model, config.max_length, template_path, log)
    tokenizer = round_trip.tokenizer
    dataset, report = check_round_trip(dataset, round_trip, config.round_trip, log)
    training = dict(config.training)
    if "bf16" not in training and not _has_gpu():
        # TRL defaults to bf16 autocast; emulated bf16 on a CPU made a training step 20x slower here.
        training["bf16"] = False
    args = SFTConfig(output_dir=config.output_dir, max_length=config.max_length, **training)
    log(f"training {model} on {len(dataset)} traces from {config.data_dir}")
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(config.output_dir)
    tokenizer.save_pretrained(config.output_dir)
    log(
        f"student saved to {config.output_dir} (train loss {result.training_loss:.4f}, {result.global_step} steps)"
    )
    outcome = {
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "examples": len(dataset),
        "configs": list(config.configs),
        "round_trip": report.to_dict(),
    }
    # Beside the weights: what this student was trained on, and how long (a control matches its steps).
    write_json(Path(config.output_dir) / TRAINING_RECORD, outcome)
    return outcome
