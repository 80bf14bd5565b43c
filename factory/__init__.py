"""factory: an offline distillation data factory.

problems → samples → verdicts → shards. `import factory` stays light: engines load when a run needs them.

The Python API is the commands' own, as functions:

    import factory
    summary = factory.run("configs/quickstart.yaml", overrides=["sampling.n=8"])
    print(summary.kept, summary.shards)
    verdicts = factory.verify("answers.jsonl", gold_field="answer", response_field="response")
    print(verdicts.by_status)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the real imports happen in the functions: `import factory` loads none of them
    from factory.config import RunConfig
    from factory.job import Summary
    from factory.verify_traces import VerifySummary

__version__ = "0.1.0"
__all__ = ["run", "verify"]


def run(
    config: str | Path | RunConfig,
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> Summary:
    """`factory run`: generate, verify and package into the config's `run_dir`; the summary it prints.

    `config` is a YAML file (with `overrides` as `--set` takes them) or a `RunConfig`. A mistake raises
    `factory.errors.FactoryError` with the line the command prints. The same call again goes on where the
    last one stopped; `summary.failed_problems` says whether the corpus is complete."""
    from factory.config import RunConfig, load_config
    from factory.job import run as run_job

    if not isinstance(config, RunConfig):
        config = load_config(RunConfig, config, overrides)
    elif overrides:
        raise TypeError("overrides apply to a config file; change a RunConfig's fields instead")
    return run_job(config, log)


def verify(
    path: str | Path,
    out: str | Path | None = None,
    *,
    gold_field: str = "answer",
    response_field: str = "response",
    id_field: str | None = "id",
    extraction: str = "lenient",
    patterns: Sequence[str] = (),
    timeout_s: float = 5.0,
    rel_tol: float = 1e-2,
    workers: int | None = None,
    format: str = "auto",
    gold_extraction: str = "auto",
    gold_pattern: str | None = None,
) -> VerifySummary:
    """`factory verify`: verdicts for responses made elsewhere, written to `out` (default
    `PATH.verdicts.jsonl`) with a summary beside it; the summary's counts by status and reason.
    `gold_extraction` reads the answer from golds that are whole solutions (`factory.golds.GOLD_MODES`)."""
    from factory.verify_traces import verify_file
    from filters import VerifyConfig

    source = Path(path)
    target = Path(out) if out is not None else source.with_name(source.stem + ".verdicts.jsonl")
    return verify_file(
        source,
        target,
        gold_field=gold_field,
        response_field=response_field,
        id_field=id_field,
        config=VerifyConfig(tuple(patterns), timeout_s, rel_tol, extraction=extraction),
        workers=workers,
        format=format,
        gold_extraction=gold_extraction,
        gold_pattern=gold_pattern,
    )
