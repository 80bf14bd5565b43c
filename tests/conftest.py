from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# vLLM's INFO lines drown test output; warnings still show.
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Configs name data/ and prompts/ relative to the repo root, as a user running from a checkout does."""
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    """The embedded teacher as a safetensors folder (converted from the shipped GGUF once, then cached)."""
    from factory.embedded import embedded_model_dir

    return embedded_model_dir(log=lambda message: None)


@pytest.fixture(scope="session")
def tiny_model(embedded_model, tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer and chat template: trains in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        # Heads of 64 dimensions: vLLM's CPU attention has kernels for 32, 64, 80... (its engine died on 16),
        # and a folder `factory sft` trains from this model is evaluated through vLLM.
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-student")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# Lines of figures from the reliability tests (`reliability_figure`), printed together after the run.
_RELIABILITY_FIGURES: list[str] = []


@pytest.fixture
def reliability_figure():
    """Record one line for the reliability summary printed at the end of the test run."""
    return _RELIABILITY_FIGURES.append


# Counts that several tests add to, one line each: what went wrong, out of how many cases tried.
_RELIABILITY_TALLIES: dict[str, list[int]] = {}


@pytest.fixture
def reliability_tally():
    """Add to a counted line of the reliability summary: `tally("user files deleted", wrong, cases)`."""

    def add(what: str, wrong: int, cases: int) -> None:
        counts = _RELIABILITY_TALLIES.setdefault(what, [0, 0])
        counts[0] += wrong
        counts[1] += cases

    return add


def pytest_terminal_summary(terminalreporter):
    figures = list(_RELIABILITY_FIGURES) + [
        f"{what}: {wrong} in {cases} cases tried" for what, (wrong, cases) in _RELIABILITY_TALLIES.items()
    ]
    tried = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call" and "test_bad_input.py::test_bad_input[" in report.nodeid
    ]
    if tried:
        handled = sum(report.passed for report in tried)
        figures.append(
            f"bad input: {len(tried)} kinds tried, {handled} ended in one error line or were read as they "
            f"should be, with no traceback; {len(tried) - handled} did not"
        )
    if figures:
        terminalreporter.section("reliability")
        for line in figures:
            terminalreporter.write_line(line)
