"""`factory sft`: train a student on a run's shards with TRL's SFTTrainer.

The shards are TRL conversational prompt-completion rows, so the dataset goes in as `datasets` loads it
and the loss falls on the completion (the teacher's trace) only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from factory.config import SFTRunConfig
from factory.embedded import resolve_model
from factory.errors import FactoryError
from factory.teachers import Log


def load_shards(data_dir: str | Path) -> Any:
    """The shards of a run as a `datasets.Dataset` (split train)."""
    from datasets import load_dataset

    data_dir = Path(data_dir)
    if not any(data_dir.glob("*.parquet")):
        raise FactoryError(
            f"data_dir: no Parquet shards in {data_dir}; run `factory run CONFIG` first "
            "(a run that kept no trace writes none: see its summary)"
        )
    return load_dataset("parquet", data_dir=str(data_dir), split="train")


def _token_count(tokenizer: Any, messages: list[dict[str, str]], **kwargs: Any) -> int:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, **kwargs)
    return len(ids["input_ids"] if hasattr(ids, "keys") else ids)


def length_report(dataset: Any, tokenizer: Any, max_length: int) -> tuple[int, int, int]:
    """(examples longer than max_length once rendered with the chat template, examples whose prompt alone
    fills max_length, longest length)."""
    too_long, no_room, longest = 0, 0, 0
    for row in dataset:
        length = _token_count(tokenizer, row["prompt"] + row["completion"])
        longest = max(longest, length)
        too_long += length > max_length
        no_room += _token_count(tokenizer, row["prompt"], add_generation_prompt=True) >= max_length
    return too_long, no_room, longest


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def train(config: SFTRunConfig, log: Log) -> dict[str, Any]:
    try:
        from transformers import AutoTokenizer
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
    dataset = load_shards(config.data_dir)
    if len(dataset) == 0:
        raise FactoryError(f"{config.data_dir}: the shards hold no kept traces; nothing to train on")
    model = resolve_model(config.model, log)
    tokenizer = AutoTokenizer.from_pretrained(model)
    too_long, no_room, longest = length_report(dataset, tokenizer, config.max_length)
    if no_room == len(dataset):
        raise FactoryError(
            f"max_length: {config.max_length} tokens leaves no room for any trace after its prompt; raise it"
        )
    if too_long:
        log(
            f"warning: {too_long} of {len(dataset)} traces exceed max_length={config.max_length} tokens "
            f"(longest {longest}); TRL truncates them, cutting off their answers"
            + (f", and drops the {no_room} whose prompt alone fills it" if no_room else "")
            + ". Raise max_length to keep them."
        )
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
    return {"steps": result.global_step, "train_loss": result.training_loss, "examples": len(dataset)}
