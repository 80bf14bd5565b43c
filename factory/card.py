"""The dataset card: `README.md` beside the shards, so the folder is a Hugging Face dataset as it is.

Its YAML header declares the dataset configs (`train`, the default, and `preference` / `rejected` when
written), so `datasets.load_dataset(shards_dir)` needs no other argument and the Hub shows each config.
The body says what a reader needs before training on the data or publishing it: where it came from
(teachers, sampling, prompt template), how it was judged (verifier, every curation unit with its parameters
and drops), what it was checked against (evaluation sets and their hits), how a student's chat template
renders it, a sample row, the terms, and the command that makes it again. Every number comes from the
manifest written beside it.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import yaml

from factory.storage import write_text

DATASET_CONFIGS = ("train", "preference", "rejected")
CONFIG_COPY = "factory-config.yaml"  # the run's config beside the card: what `reproduce` runs
_WHAT = {
    "train": "kept traces, TRL conversational prompt-completion (`prompt`, `completion`) plus `trace`, "
    "`answer` and provenance; `SFTTrainer` reads it as it is",
    "preference": "TRL preference pairs (`prompt`, `chosen`, `rejected`) from the same problems; "
    "`DPOTrainer` reads it as it is",
    "rejected": "every sample curation dropped, with `drop_unit`, `drop_reason` and `drop_detail`: "
    "the teacher's mistakes, to study",
}
_SAMPLE_CHARS = 400  # a sample row's long strings are cut to this in the card


def write_card(shards_dir: Path, manifest: dict[str, Any], sample_row: dict[str, Any] | None) -> Path:
    """Write `shards_dir/README.md` from the manifest, with a train row (`card_sample`) as the sample, and
    the manifest's config (paths made `publishable`) as `factory-config.yaml`."""
    write_text(shards_dir / CONFIG_COPY, yaml.safe_dump(manifest["config"], sort_keys=False))
    path = shards_dir / "README.md"
    write_text(path, card_text(manifest, sample_row))
    return path


# The keys whose values name a file or folder of the machine that made the run (a model or tokenizer may be
# a local folder, an engine setting a download folder).
PATH_KEYS = frozenset(
    {"run_dir", "paths", "path", "template", "chat_template", "model", "tokenizer", "download_dir"}
)


def publishable(value: Any, key: str | None = None) -> Any:
    """`value` (the manifest, a config as a dict) with every path under `PATH_KEYS` made `portable_path`."""
    if isinstance(value, dict):
        return {name: publishable(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [publishable(item, key) for item in value]
    if key in PATH_KEYS and isinstance(value, str):
        return portable_path(value)
    return value


def reproduce_command(run_dir: str) -> str:
    """The command that makes the run in `run_dir` again, shell-quoted, from the folder it was started from.
    Into a folder of its own: the config's run_dir is this run's, where the same command would find every
    sample made and draw nothing."""
    folder = portable_path(run_dir)
    config = str(Path(folder) / "shards" / CONFIG_COPY)
    return shlex.join(["factory", "run", config, "--set", f"run_dir={folder}-reproduced"])


def portable_path(path: str) -> str:
    """`path` as a published file may show it: relative to the folder the run was started from (where the
    config's relative paths point) when inside it, else its name alone; a name (`boxed_cot`, a model id)
    stays as it is. An absolute path would show the author's folders, and works on no other machine.

    >>> portable_path("data/gsm8k.jsonl"), portable_path("/home/me/evals/aime.jsonl")
    ('data/gsm8k.jsonl', 'aime.jsonl')
    """
    if not path:
        return path
    absolute = Path(os.path.abspath(path))
    here = Path.cwd()
    # From the root (or a folder above the user's) every path would be "inside", with all of its folders.
    if len(here.parts) > 2 and absolute.is_relative_to(here):
        return str(absolute.relative_to(here))
    return absolute.name


def card_text(manifest: dict[str, Any], sample_row: dict[str, Any] | None) -> str:
    configs = manifest["configs"]
    # With no file at all, a `train` config of none: a folder without configs is read by `load_dataset` as
    # its data files, which are then manifest.json alone (a dataset of one row). Declared, it stops with
    # `DataFilesNotFoundError`.
    declared = configs or {"train": []}
    header = {
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == "train" else {}),
                # The files by name, not a glob: `datasets` caches a local folder by its card's file
                # list, and the names change when the contents do.
                "data_files": [{"split": "train", "path": files}],
            }
            for name, files in declared.items()
        ],
        # Left for you: the corpus's terms depend on your problems and on the teacher's licence (below).
        "license": "unknown",
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "reasoning", "distillation", "rejection-sampling", "factory"],
    }
    counts = manifest["counts"]
    teachers = ", ".join(f"`{teacher['model']}`" for teacher in manifest["teachers"])
    config = manifest["config"]
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        f"# Reasoning traces distilled from {teachers}",
        "",
        (
            f"{counts['kept']} chain-of-thought traces for {counts['problems_solved']} problems, sampled from "
            f"{teachers} and kept by rejection sampling: each trace's final answer was checked against the "
            "problem's gold answer (or, for a problem without one, its samples' majority answer: see the rows' "
            "`gold_source`), and the wrong ones (and those curation dropped) left out. Made with "
            f"factory {manifest['packages'].get('factory', '')} on {manifest['created']}."
        ),
        "",
        *(
            [
                f"**Incomplete:** {counts['failed_problems']} of {counts['problems']} problems are missing: "
                "their requests failed after their retries (the run folder's `failed.jsonl` lists them), and "
                "the same `factory run` command asks for them again.",
                "",
            ]
            if counts["failed_problems"]
            else []
        ),
        "## Load",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        *(
            ['train = load_dataset("path/to/this/folder")["train"]  # the default config']
            if "train" in configs
            else []
        ),
        *(
            f'{name} = load_dataset("path/to/this/folder", "{name}")["train"]'
            for name in configs
            if name != "train"
        ),
        "```",
        "",
        # Without a train config no config is the default: `load_dataset` then asks for one by name.
        *([] if "train" in configs else [_without_train(configs), ""]),
        "| config | files | what it holds |",
        "|---|---|---|",
        *(f"| `{name}` | {len(files)} | {_WHAT[name]} |" for name, files in declared.items()),
        "",
        "## Counts",
        "",
        "| | |",
        "|---|---|",
        f"| problems | {counts['problems']} |",
        f"| problems left out before sampling | {_total(counts['problems_left_out'])} |",
        f"| problems with a kept trace | {counts['problems_solved']} |",
        f"| samples drawn | {counts['samples']} |",
        f"| judged correct | {counts['correct']} |",
        f"| pass rate | {counts['pass_rate']} |",
        f"| kept (train rows) | {counts['kept']} |",
        f"| preference pairs | {counts['preference_pairs']} |",
        f"| rejected rows | {counts['rejected_rows']} |",
        f"| problems missing (requests failed) | {counts['failed_problems']} |",
        "",
        "## Source",
        "",
        *(
            _teacher_line(teacher, counts["teachers"].get(f"{teacher['backend']}:{teacher['model']}", {}))
            for teacher in config["teachers"] or [config["teacher"]]
        ),
        f"- Sampling: `{json.dumps(config['sampling'], sort_keys=True)}`",
        f"- Prompt template: `{manifest['prompt']['template']}` (sha256 `{manifest['prompt']['hash']}`)",
        f"- Adaptive sampling: `{json.dumps(config['adaptive'], sort_keys=True)}`",
        "",
        "## Verification and curation",
        "",
        (
            f"Verifier: factory's answer verifier (sympy and exact match), version `{manifest['verifier']}`. "
            "Each unit below ran in this order; a sample is dropped by the first unit with a reason."
        ),
        "",
        "| unit | stage | parameters | dropped |",
        "|---|---|---|---|",
        *(_unit_row(unit, counts) for unit in manifest["curation"]),
        "",
        "## Decontamination",
        "",
        *_decontamination(manifest.get("decontamination")),
        "",
        "## Student round trip",
        "",
        *_round_trip(manifest.get("round_trip")),
        "",
        "## Sample row",
        "",
        "```json",
        json.dumps(sample_row, ensure_ascii=False, indent=2) if sample_row else "(no row kept)",
        "```",
        "",
        "## Licence",
        "",
        (
            "The `license` field in the header is left for you to set before publishing. Teacher outputs carry "
            f"the teacher's terms: check the licence of {teachers} (and of your problem sources) for what "
            "they allow."
        ),
        "",
        "## Reproduce",
        "",
        "```bash",
        manifest["reproduce"],  # shell-quoted where it is made
        "```",
        "",
        (
            f"`{CONFIG_COPY}` beside this card is the run's full config; `manifest.json` holds every count above "
            "and the package versions."
        ),
        "",
    ]
    return "\n".join(lines)


def _without_train(configs: dict[str, list[str]]) -> str:
    if configs:
        return "No trace was kept, so this folder has no `train` config."
    return (
        "No trace was kept and no other config was asked for: this folder holds no rows, and "
        "`load_dataset` on it stops with `DataFilesNotFoundError`."
    )


def _cell(value: Any) -> str:
    """`value` fit for a cell of a Markdown table: a `|` would end the cell, a line break the table."""
    return " ".join(str(value).replace("|", "\\|").splitlines())


def _total(nested: dict[str, dict[str, int]]) -> int:
    return sum(sum(reasons.values()) for reasons in nested.values())


def _teacher_line(teacher: dict[str, Any], counts: dict[str, Any]) -> str:
    line = f"- Teacher: `{teacher['model']}` ({teacher['backend']} backend, {teacher['endpoint']} endpoint)"
    if counts.get("cost") is not None:
        per_kept = counts.get("cost_per_kept")
        line += f"; cost {counts['cost']:.4f}" + (f", {per_kept:.4f} per kept trace" if per_kept else "")
    return line


def _unit_row(unit: dict[str, Any], counts: dict[str, Any]) -> str:
    parameters = ", ".join(f"{key}={_short(value)}" for key, value in unit["parameters"].items())
    dropped = unit["dropped"]
    if unit["stage"] == "corpus":  # on problems too: those never sampled
        dropped = {
            **dropped,
            **{f"{r} (problems)": n for r, n in counts["problems_left_out"].get(unit["unit"], {}).items()},
        }
    drops = ", ".join(f"{reason} {count}" for reason, count in dropped.items()) or "0"
    return (
        f"| `{_cell(unit['unit'])}` | {_cell(unit['stage'])} | {_cell(parameters or '—')} | {_cell(drops)} |"
    )


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _decontamination(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return [
            (
                "Not checked: no evaluation set was named (`curate.decontaminate`). Check before evaluating "
                "a student trained on this data on a public benchmark."
            )
        ]
    lines = [
        f"Word {report['ngram']}-gram overlap on {' and '.join(report['on'])}"
        + (f", and a rapidfuzz ratio of at least {report['fuzzy']} on problems" if report["fuzzy"] else "")
        + f": {report['problems_left_out']} problems left out before sampling, "
        f"{sum(report['traces_dropped'].values())} kept traces dropped. Each is a line of "
        "`excluded_problems.jsonl` or `excluded.jsonl` in the run folder, with the item it matched.",
        "",
        "| evaluation set | field | items | sha256 | traces dropped |",
        "|---|---|---|---|---|",
    ]
    for item in report["sets"]:
        hits = report["traces_dropped"].get(item["path"], 0)
        lines.append(
            f"| `{_cell(item['path'])}` | `{_cell(item['field'])}` | {item['items']} | `{item['sha256']}` | {hits} |"
        )
    return lines


def _round_trip(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return [
            (
                "Not checked (`package.student`): render the rows with your student's chat template before "
                "training (`factory sft` does)."
            )
        ]
    return [
        (
            "Every trace curation kept (after decontamination, before dedup and the budget) was rendered "
            f"with `{report['tokenizer']}`'s chat template (sha256 `{report['chat_template_hash']}`) as TRL's "
            f"`SFTTrainer` renders it: {report['rows']} rows, "
            f"{report['think_dropped']} lose their `<think>` block to the template, {report['over_max_length']} "
            f"exceed max_length={report['max_length']} tokens (longest {report['longest']}). Policy "
            f"`{report['policy']}`: {report['dropped']} rows dropped."
        ),
    ]


def card_sample(row: dict[str, Any]) -> dict[str, Any]:
    """A train row as the card shows it: long strings cut. The package stage keeps the first one it writes
    (reading it back would decode a page of every column)."""
    return _cut(row)


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _SAMPLE_CHARS else value[:_SAMPLE_CHARS] + " [...]"
    if isinstance(value, list):
        return [_cut(item) for item in value]
    if isinstance(value, dict):
        return {key: _cut(item) for key, item in value.items()}
    return value
