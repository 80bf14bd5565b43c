"""The `factory` command. Thin: each command loads a config and calls the library.

A user mistake prints one `error:` line and exits 1 (paths are checked by the library rather than by click,
whose usage errors take several lines); Ctrl-C (SIGINT) and SIGTERM keep what finished, say
how to go on and exit 130 and 143. `factory run` exits 3 when it finished with problems whose requests
failed after their retries (`factory.errors.INCOMPLETE_EXIT`): the corpus is incomplete.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from factory import terminal
from factory.config import INPUT_FORMATS
from factory.errors import INCOMPLETE_EXIT, FactoryError
from factory.golds import GOLD_MODES
from filters.extract import EXTRACTION_MODES

OVERRIDE_HELP = "Override a config value, e.g. --set sampling.n=8 (repeatable)."
VERBOSE_HELP = "Show what engines and libraries print on the terminal too [default: in the folder's logs/]."


def _log(message: str) -> None:
    terminal.echo(message)


def _echo(text: str, err: bool = False) -> None:
    """What a command prints: config values, ids and servers' texts in it are shown, not obeyed."""
    click.echo(terminal.printable(text), err=err)


def _quiet_unless(verbose: bool, folder: str, title: str) -> contextlib.AbstractContextManager[Any]:
    """Engine and library output into `folder/logs/`, factory's own lines on the terminal; all of it there
    with -v."""
    return contextlib.nullcontext() if verbose else terminal.quiet(Path(folder) / "logs", title)


def _stop_verifier(workers: int | None) -> None:
    """Stop the verifier's process pools before the interpreter exits: its exit, racing a spare pool still
    starting, can wait for ever on a worker never told to stop (filters.deadline.DeadlinePool.close)."""
    from filters.verify import stop_pool

    stop_pool(workers)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that the same clean-up runs:
    the teachers stop, the checker verifies and curates what it was handed, the journals close."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def _guarded(work: Callable[[], Any]) -> Any:
    # Python handles signals in the main thread only (a command run from another thread keeps SIGTERM's own).
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return work()
    except FactoryError as error:
        _echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt as interrupt:
        stopped_by = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
        click.echo(f"{stopped_by}: finished work is saved; run the same command again to continue", err=True)
        sys.exit(143 if isinstance(interrupt, Terminated) else 130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="factory")
def main() -> None:
    """Distillation data factory: sample teacher traces, keep the verified ones, write Parquet shards."""


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=OVERRIDE_HELP)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
def run(config_path: str, overrides: tuple[str, ...], verbose: bool) -> None:
    """Generate, verify and package: problems in, Parquet shards out.

    Running the same command again reuses every finished sample.
    """
    from factory.config import RunConfig, load_config
    from factory.job import check_run_dir
    from factory.job import run as run_pipeline

    def work() -> None:
        config = load_config(RunConfig, config_path, overrides)
        check_run_dir(Path(config.run_dir))  # before its logs are written into it
        with _quiet_unless(verbose, config.run_dir, f"factory run {config_path}"):
            try:
                summary = run_pipeline(config, _log)
            finally:
                _stop_verifier(config.reject.workers)
        _echo("\n".join(summary.lines()))
        if summary.failed_problems:
            _echo(
                f"incomplete: {summary.failed_problems} of {summary.problems} problems failed after their "
                "retries and are missing from the shards; run the same command again to ask for them",
                err=True,
            )
            sys.exit(INCOMPLETE_EXIT)

    _guarded(work)


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=OVERRIDE_HELP)
def sft(config_path: str, overrides: tuple[str, ...]) -> None:
    """Train a student on a run's shards with TRL's SFTTrainer (completion-only loss)."""
    from factory.config import SFTRunConfig, load_config
    from factory.sft import train

    _guarded(lambda: train(load_config(SFTRunConfig, config_path, overrides), _log))


@main.command(name="eval")
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=OVERRIDE_HELP)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
def eval_(config_path: str, overrides: tuple[str, ...], verbose: bool) -> None:
    """Score a model on problems with the prompts and verifier of `run`: greedy accuracy, pass@k, maj@k.

    Running the same command again reuses every finished draw.
    """
    from factory.config import EvalConfig, load_config
    from factory.eval import evaluate, lines

    def work() -> None:
        config = load_config(EvalConfig, config_path, overrides)
        with _quiet_unless(verbose, config.eval_dir, f"factory eval {config_path}"):
            try:
                results = evaluate(config, _log)
            finally:
                _stop_verifier(config.reject.workers)
        _echo("\n".join(lines(results)))

    _guarded(work)


@main.command()
@click.argument("eval_dirs", metavar="EVAL_DIR...", nargs=-1, required=True, type=click.Path(file_okay=False))
def compare(eval_dirs: tuple[str, ...]) -> None:
    """Evals of the same problems side by side, with paired differences and their intervals."""
    from factory.eval import compare_lines

    _guarded(lambda: _echo("\n".join(compare_lines(eval_dirs))))


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("--gold-field", default="answer", show_default=True, help="Column holding the gold answer.")
@click.option(
    "--gold-extraction",
    type=click.Choice(GOLD_MODES),
    default="auto",
    show_default=True,
    help="How the answer is read from a gold: auto reads a closing #### line (GSM8K), else the last "
    "\\boxed{} (MATH), else the text as it is; as_is, boxed, hashes, last_number, or pattern "
    "(--gold-pattern).",
)
@click.option("--gold-pattern", help="With --gold-extraction pattern: a regex whose one group is the answer.")
@click.option("--response-field", default="response", show_default=True, help="Column holding the response.")
@click.option(
    "--id-field", default="id", show_default=True, help="Column copied into each verdict, if present."
)
@click.option(
    "--pattern", "patterns", multiple=True, help="Answer regex tried when there is no \\boxed{} (repeatable)."
)
@click.option(
    "--extraction",
    type=click.Choice(EXTRACTION_MODES),
    default="lenient",
    show_default=True,
    help="lenient also reads the closing sentence's value when no answer is stated; strict reads stated "
    "answers only (a box, 'The answer is', a --pattern).",
)
@click.option("--timeout", "timeout_s", default=5.0, show_default=True, help="Seconds per symbolic check.")
@click.option(
    "--rel-tol",
    default=0.01,
    show_default=True,
    help="How far a rounded decimal may be from the value it rounds (relative); 0 compares exactly.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Symbolic checks at a time [default: all cores].")
@click.option("--format", "format_", type=click.Choice(INPUT_FORMATS), default="auto")
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False), help="Verdicts JSONL [default: INPUT.verdicts.jsonl]."
)
def verify(
    input_path: str,
    gold_field: str,
    gold_extraction: str,
    gold_pattern: str | None,
    response_field: str,
    id_field: str,
    patterns: tuple[str, ...],
    extraction: str,
    timeout_s: float,
    rel_tol: float,
    workers: int | None,
    format_: str,
    out: str | None,
) -> None:
    """Verify responses made elsewhere (JSONL, CSV or Parquet) against their gold answers."""
    import factory

    def work() -> None:
        summary = factory.verify(
            input_path,
            out,
            gold_field=gold_field,
            response_field=response_field,
            id_field=id_field,
            extraction=extraction,
            patterns=patterns,
            timeout_s=timeout_s,
            rel_tol=rel_tol,
            workers=workers,
            format=format_,
            gold_extraction=gold_extraction,
            gold_pattern=gold_pattern,
        )
        _echo("\n".join([*summary.lines(), f"verdicts   {summary.verdicts_path}"]))

    try:
        _guarded(work)
    finally:
        _stop_verifier(workers)


@main.command()
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(file_okay=False))
@click.argument("eval_dirs", metavar="[EVAL_DIR]...", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False), help="The HTML file [default: RUN_DIR/report.html]."
)
def report(run_dir: str, eval_dirs: tuple[str, ...], out: str | None) -> None:
    """Write one self-contained HTML page of a run's figures, and of evaluations' accuracy (EVAL_DIRs
    written by `factory eval`)."""
    from pathlib import Path

    from factory.report import write_report

    def work() -> None:
        written = write_report(Path(run_dir), [Path(path) for path in eval_dirs], Path(out) if out else None)
        _echo(f"report     {written}")

    _guarded(work)


# `factory config init --teacher KIND`: the starter each kind of teacher begins from (under configs/).
STARTERS = {
    "cpu": "quickstart.yaml",  # the embedded model on vLLM-CPU
    "vllm-serve": "http.yaml",  # a local `vllm serve`
    "vllm-serve-gpu": "teachers/vllm-serve-gpu.yaml",
    "vllm-gpu": "teachers/vllm-gpu.yaml",
    "ray": "ray.yaml",
    "openai": "teachers/openai.yaml",
    "deepseek": "teachers/deepseek.yaml",
}
CONFIG_KINDS = ("run", "sft", "eval")


@main.group()
def config() -> None:
    """Show a config with what each key means, or start one."""


@config.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=OVERRIDE_HELP)
@click.option("--kind", type=click.Choice(CONFIG_KINDS), default="run", show_default=True)
def show(config_path: str, overrides: tuple[str, ...], kind: str) -> None:
    """Print CONFIG resolved (defaults filled in, --set applied) with each key's help."""
    from factory import config_help
    from factory.config import EvalConfig, RunConfig, SFTRunConfig, load_config

    classes = {"run": RunConfig, "sft": SFTRunConfig, "eval": EvalConfig}
    _guarded(lambda: _echo(config_help.show(load_config(classes[kind], config_path, overrides))))


@config.command()
def reference() -> None:
    """Print the configuration reference (docs/configuration.md): every key, its default and its help."""
    from factory import config_help

    _echo(config_help.document())


@config.command()
@click.option("--teacher", type=click.Choice(sorted(STARTERS)), required=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="factory.yaml", show_default=True)
def init(teacher: str, out: str) -> None:
    """Write a commented starter config for a kind of teacher."""
    from importlib.resources import files

    def work() -> None:
        target = Path(out)
        if target.exists():
            raise FactoryError(f"{target} exists; name another file with -o")
        starter = files("factory").joinpath("..", "configs", STARTERS[teacher])
        try:
            text = starter.read_text(encoding="utf-8")
        except OSError:
            raise FactoryError(
                "the starter configs ship with the source tree (configs/); install factory from a checkout"
            ) from None
        target.write_text(text, encoding="utf-8")
        _echo(
            f"wrote {target} (from configs/{STARTERS[teacher]}); see it resolved: factory config show {target}"
        )

    _guarded(work)


if __name__ == "__main__":
    main()
