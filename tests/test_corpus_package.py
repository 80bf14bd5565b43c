"""Curation part 2 in whole runs on the scripted teacher: decontamination and dedup on problems (before any
is sampled) and on kept traces (at packaging), each drop pointing at what it matched; the preference and
rejected configs; shards sized by bytes; the dataset card and `load_dataset(folder)`; the student round trip
at packaging."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml
from scripted_teacher import ScriptedTeacher, run_config

from factory.errors import FactoryError
from factory.ledger import read_keyed_samples
from factory.records import Problem
from factory.job import run

EVAL_ITEMS = [
    # Two items of an evaluation set, as a benchmark file would hold them (our own wording).
    (
        "In triangle ABC the sides AB and AC have lengths 13 and 15, and the altitude from A to BC has "
        "length 12. Find the length of BC."
    ),
    (
        "Let S be the set of positive integers n below 1000 whose square ends in the digits 76. "
        "How many elements does S have?"
    ),
]

MUFFINS = "A baker packs muffins in boxes of 6. How many boxes does she need for 45 muffins?"
PROBLEMS = [
    # The first evaluation item again, with other spacing and case: never sampled.
    Problem(
        id="leak",
        problem="in triangle ABC   the sides AB and AC have lengths 13 and 15, and the "
        "altitude from A to BC has length 12.  Find the length of BC.",
        answer="14",
        source="t",
    ),
    Problem(id="muffins", problem=MUFFINS, answer="8", source="t"),
    Problem(
        id="muffins-again", problem=MUFFINS.upper().replace(" ", "  "), answer="8", source="t"
    ),  # never sampled
    Problem(id="product", problem="Compute 17 times 23.", answer="391", source="t"),
    Problem(id="dozen", problem="How many eggs are in two half-dozen cartons?", answer="12", source="t"),
]

MUFFIN_TRACE = (
    "<think>\n45 muffins, 6 per box. 6 x 7 = 42 leaves 3 muffins, which still need a box.\n</think>\n\n"
    "Seven full boxes hold 42 muffins and the last 3 need one more box, so she needs $\\boxed{8}$ boxes."
)
SCRIPT = {
    "muffins": [
        (MUFFIN_TRACE, "stop"),
        (MUFFIN_TRACE.replace("Seven full", "Seven   full"), "stop"),  # the same trace, spaced otherwise
        ("<think>\n45 / 6 = 7.5, so 7 boxes.\n</think>\n\nShe needs $\\boxed{7}$ boxes.", "stop"),  # wrong
    ],
    "product": [
        (
            (
                "<think>\nThis reminds me of a problem I saw: let S be the set of positive integers n below 1000 "
                "whose square ends in the digits 76. Not the same thing.\n</think>\n\n"
                "17 x 23 = 17 x 20 + 17 x 3 = 340 + 51, so the product is $\\boxed{391}$."
            ),
            "stop",
        ),  # quotes an evaluation item: dropped at packaging
        (
            (
                "<think>\n17 x 20 = 340 and 17 x 3 = 51; together 340 + 51 = 391.\n</think>\n\n"
                "Working it out, 17 times 23 is $\\boxed{391}$."
            ),
            "stop",
        ),
        ("<think>\n17 x 23 = 381.\n</think>\n\nWorking it out, 17 times 23 is $\\boxed{381}$.", "stop"),
    ],
    "dozen": [
        (
            "<think>\nA half-dozen is 6; two of them make 12.\n</think>\n\nThere are $\\boxed{12}$ eggs.",
            "stop",
        ),
        (
            (
                "<think>\nA dozen is 12 eggs and half a dozen is 6 eggs. Two cartons of 6 eggs each hold 6 + 6 "
                "eggs, which is 12 eggs in all. Checking: 2 x 6 = 12.\n</think>\n\nSo the cartons hold "
                "$\\boxed{12}$ eggs."
            ),
            "stop",
        ),
        ("<think>\nTwo half-dozens: 2 x 6 = 13.\n</think>\n\nThere are $\\boxed{13}$ eggs.", "stop"),
    ],
}


def eval_set(tmp_path) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "benchmark.jsonl"
    path.write_text("".join(json.dumps({"question": text, "answer": "x"}) + "\n" for text in EVAL_ITEMS))
    return str(path)


def corpus_run(tmp_path, curate=None, package=None, **sections):
    config = run_config(
        tmp_path,
        PROBLEMS,
        {},
        curate={
            "decontaminate": {"sets": [{"path": eval_set(tmp_path), "field": "question"}]},
            "dedup": ["exact", "near"],
            **(curate or {}),
        },
        package=package or {},
        **sections,
    )
    teacher = ScriptedTeacher(SCRIPT)  # a problem outside its script would fail the run: never sampled
    return run(config, lambda line: None, start_teacher=lambda: teacher), tmp_path / "run"


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_contaminated_and_duplicate_problems_are_never_sampled_and_point_at_what_they_matched(tmp_path):
    summary, run_dir = corpus_run(tmp_path)
    left_out = {line["problem_id"]: line for line in lines(run_dir / "excluded_problems.jsonl")}
    assert set(left_out) == {"leak", "muffins-again"}
    leak = left_out["leak"]
    assert (leak["unit"], leak["reason"]) == ("decontaminate", "contaminated")
    assert leak["detail"]["eval_set"] == str(tmp_path / "benchmark.jsonl")
    assert leak["detail"]["eval_row"] == 1 and leak["detail"]["eval_text"] == EVAL_ITEMS[0]
    assert leak["detail"]["method"] == "ngram"
    again = left_out["muffins-again"]
    assert (again["unit"], again["reason"], again["detail"]) == (
        "exact_dedup",
        "duplicate",
        {"kept_problem_id": "muffins"},
    )
    assert summary.problems == 5
    assert summary.problems_dropped == {"decontaminate": {"contaminated": 1}, "exact_dedup": {"duplicate": 1}}
    assert summary.samples == 9  # three problems sampled, three draws each


def test_kept_traces_that_quote_an_evaluation_item_or_copy_another_are_dropped_with_the_match(tmp_path):
    summary, run_dir = corpus_run(tmp_path)
    excluded = {
        (line["problem_id"], line["sample_index"]): line for line in lines(run_dir / "excluded.jsonl")
    }
    quote = excluded[("product", 0)]
    assert (quote["unit"], quote["reason"]) == ("decontaminate", "contaminated")
    assert quote["detail"]["eval_row"] == 2 and quote["detail"]["eval_text"] == EVAL_ITEMS[1]
    assert quote["detail"]["ngram"] in " ".join(EVAL_ITEMS[1].lower().replace(".", "").split())
    copy = excluded[("muffins", 1)]
    assert (copy["unit"], copy["reason"]) == ("exact_dedup", "duplicate")
    kept_rows = _all_train(run_dir)
    first_muffin = next(row for row in kept_rows if row["problem_id"] == "muffins")
    assert copy["detail"] == {
        "kept_sample_key": first_muffin["sample_key"],
        "kept_problem_id": "muffins",
        "kept_sample_index": 0,
    }
    assert sorted((row["problem_id"], row["sample_index"]) for row in kept_rows) == [
        ("dozen", 0),
        ("dozen", 1),
        ("muffins", 0),
        ("product", 1),
    ]
    assert summary.dropped["decontaminate"] == {"contaminated": 1}
    assert summary.dropped["exact_dedup"] == {"duplicate": 1}
    assert summary.contamination == {str(tmp_path / "benchmark.jsonl"): 1}
    assert summary.kept == 4


def test_a_second_run_with_nothing_new_reports_the_same_from_the_saved_tally(tmp_path):
    first, run_dir = corpus_run(tmp_path)
    shards = {path.name: path.stat().st_mtime_ns for path in (run_dir / "shards").glob("*.parquet")}
    second, _ = corpus_run(tmp_path)
    assert (second.kept, second.dropped, second.contamination) == (
        first.kept,
        first.dropped,
        first.contamination,
    )
    assert {path.name: path.stat().st_mtime_ns for path in (run_dir / "shards").glob("*.parquet")} == shards


@pytest.mark.parametrize(
    "policy, pairs",
    [
        # The best kept trace (first in the kept order) against the most common wrong answer.
        ("common_wrong", {"muffins": (0, 2), "product": (1, 2), "dozen": (0, 2)}),
        # The shortest kept trace against the longest: only a problem with two kept traces has a pair.
        ("shortest_longest", {"dozen": (0, 1)}),
    ],
)
def test_preference_pairs_follow_their_policy(tmp_path, policy, pairs):
    summary, run_dir = corpus_run(tmp_path, package={"preference": {"policy": policy}})
    rows = _read(run_dir, "preference")
    index = {row["sample_key"]: row["sample_index"] for row in _all_train(run_dir)}
    got = {}
    for row in rows:
        assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
        assert row["chosen"] != row["rejected"] and row["policy"] == policy
        got[row["problem_id"]] = (
            index.get(row["chosen_sample_key"]),
            _sample_index(run_dir, row["rejected_sample_key"]),
        )
    assert got == pairs
    assert summary.preference_pairs == len(pairs)


def test_random_pairs_are_the_same_on_every_run(tmp_path):
    _, first = corpus_run(tmp_path / "a", package={"preference": {"policy": "random", "seed": 3}})
    _, second = corpus_run(tmp_path / "b", package={"preference": {"policy": "random", "seed": 3}})
    read = lambda run_dir: _read(run_dir, "preference")
    assert [row["rejected"] for row in read(first)] == [row["rejected"] for row in read(second)]
    assert all(
        "boxed{13}" in r["rejected"][0]["content"]
        or "381" in r["rejected"][0]["content"]
        or "boxed{7}" in r["rejected"][0]["content"]
        for r in read(first)
    )


def test_the_folder_loads_with_no_arguments_and_the_card_states_the_manifests_numbers(tmp_path):
    from datasets import load_dataset

    summary, run_dir = corpus_run(
        tmp_path, package={"preference": {"policy": "common_wrong"}, "rejected": True}
    )
    shards = run_dir / "shards"
    train = load_dataset(str(shards))
    assert list(train) == ["train"] and train["train"].num_rows == summary.kept
    assert {"prompt", "completion", "trace", "answer"} <= set(train["train"].column_names)
    preference = load_dataset(str(shards), "preference")["train"]
    assert preference.column_names[:3] == ["prompt", "chosen", "rejected"]
    assert preference.num_rows == summary.preference_pairs == 3
    rejected = load_dataset(str(shards), "rejected")["train"]
    # Every drop but the decontaminated trace: its text quotes an evaluation item, and the folder is the
    # one to publish.
    assert rejected.num_rows == summary.rejected_rows == len(lines(run_dir / "excluded.jsonl")) - 1
    assert set(rejected["drop_unit"]) == {"verifier", "exact_dedup"}

    manifest = json.loads((shards / "manifest.json").read_text())
    card = (shards / "README.md").read_text()
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert [c["config_name"] for c in meta["configs"]] == ["train", "preference", "rejected"]
    assert meta["configs"][0]["default"] is True and meta["license"] == "unknown"
    table = dict(
        line.strip("|").split("|")[:2]
        for line in body.splitlines()
        if line.startswith("| ") and line.count("|") == 3
    )
    table = {key.strip(): value.strip() for key, value in table.items()}
    counts = manifest["counts"]
    assert table["problems"] == str(counts["problems"]) == "5"
    assert table["problems left out before sampling"] == "2"
    assert table["samples drawn"] == str(counts["samples"])
    assert table["judged correct"] == str(counts["correct"])
    assert table["kept (train rows)"] == str(counts["kept"]) == str(summary.kept)
    assert table["preference pairs"] == str(counts["preference_pairs"])
    assert table["rejected rows"] == str(counts["rejected_rows"])
    assert "`scripted-teacher`" in body and manifest["prompt"]["hash"] in body
    assert f"version `{manifest['verifier']}`" in body
    for unit in manifest["curation"]:
        assert f"| `{unit['unit']}` |" in body
    assert "| `exact_dedup` | corpus | on=" in body and "duplicate 1, duplicate (problems) 1" in body
    # Published files carry no path of the author's machine: the evaluation set goes by its file name.
    assert f"`{tmp_path / 'benchmark.jsonl'}`" not in body and "| `benchmark.jsonl` | `question` |" in body
    assert "1 problems left out before sampling, 1 kept traces dropped" in body
    assert "Teacher outputs carry the teacher's terms" in body
    assert "factory run run/shards/factory-config.yaml --set run_dir=run-reproduced" in body
    assert (shards / "factory-config.yaml").exists()
    assert '"problem_id":' in body  # the sample row


def test_shards_are_cut_by_bytes_and_load_as_one_split(tmp_path):
    summary, run_dir = corpus_run(tmp_path, package={"max_shard_bytes": 1200, "row_group_bytes": 600})
    paths = sorted((run_dir / "shards").glob("train-*.parquet"))
    assert len(paths) >= 2 and sum(pq.ParquetFile(p).metadata.num_rows for p in paths) == summary.kept
    for path in paths:
        table = pq.read_table(path)
        # The limit counts the data before compression (Parquet's metadata comes on top); a row bigger than
        # the limit has a shard of its own.
        assert table.num_rows == 1 or table.nbytes <= 1200
    from datasets import load_dataset

    assert load_dataset(str(run_dir / "shards"))["train"].num_rows == summary.kept


STRIPPING_TEMPLATE = (
    # The way DeepSeek-R1-Distill's template renders an assistant turn: what precedes </think> is cut.
    "{% for message in messages %}{% if message['role'] == 'assistant' %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "<|im_start|>assistant\n{{ content }}<|im_end|>\n{% else %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.mark.parametrize("policy", ["warn", "drop", "fail"])
def test_the_round_trip_finds_the_think_blocks_a_template_strips(tmp_path, policy):
    template = tmp_path / "strips_think.jinja"
    template.write_text(STRIPPING_TEMPLATE)
    student = {"chat_template": str(template), "policy": policy}
    if policy == "fail":
        with pytest.raises(FactoryError, match="package.student: round trip: 5 of 5 rows lose their <think>"):
            corpus_run(tmp_path, package={"student": student})
        return
    summary, run_dir = corpus_run(tmp_path, package={"student": student})
    report = summary.round_trip
    # Every trace that reaches the check (not decontaminated) reasons inside <think>; dedup comes after.
    assert (report["rows"], report["think_dropped"], report["over_max_length"]) == (5, 5, 0)
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert manifest["round_trip"] == report
    card = (run_dir / "shards" / "README.md").read_text()
    assert "5 rows, 5 lose their `<think>` block to the template" in card
    if policy == "drop":
        assert summary.kept == 0 and summary.dropped["round_trip"] == {"think_dropped": 5}
        assert report["dropped"] == 5
    else:
        assert summary.kept == 4 and "round_trip" not in summary.dropped and report["dropped"] == 0


def test_the_round_trip_finds_the_rows_max_length_would_cut(tmp_path):
    student = {"max_length": 100, "policy": "drop"}  # the embedded template keeps <think> blocks
    summary, run_dir = corpus_run(tmp_path, package={"student": student})
    report = summary.round_trip
    assert report["think_dropped"] == 0 and report["over_max_length"] >= 1 and report["longest"] > 100
    drops = [line for line in lines(run_dir / "excluded.jsonl") if line["unit"] == "round_trip"]
    assert len(drops) == report["over_max_length"] == summary.dropped["round_trip"]["over_max_length"]
    assert all(line["reason"] == "over_max_length" and line["detail"]["tokens"] > 100 for line in drops)
    shipped = {row["sample_key"] for row in _all_train(run_dir)}
    assert len(shipped) == summary.kept and not shipped & {line["sample_key"] for line in drops}


def _read(run_dir, config):
    return [
        row
        for path in sorted((run_dir / "shards").glob(f"{config}-*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def _all_train(run_dir):
    return _read(run_dir, "train")


def _sample_index(run_dir, key):
    return next(
        (sample.sample_index for k, sample in read_keyed_samples(run_dir / "samples") if k == key), None
    )


@pytest.mark.sft
def test_the_preference_config_feeds_dpo_trainer_as_it_is(tmp_path, tiny_model):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    _, run_dir = corpus_run(tmp_path, package={"preference": {"policy": "common_wrong"}})
    pairs = load_dataset(str(run_dir / "shards"), "preference")["train"]  # no column mapping
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=256,
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    trainer = DPOTrainer(model=str(tiny_model), args=args, train_dataset=pairs, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


def test_a_folder_without_kept_traces_has_a_card_that_says_so(tmp_path):
    """Nothing kept, rejected rows written: no `train` config, so none is the default, and the card's
    snippet loads only what is there."""
    from datasets import load_dataset
    from scripted_teacher import ScriptedTeacher, run_config

    from factory.records import Problem
    from factory.job import run

    problem = Problem(id="p1", problem="What is 2 + 2?", answer="4", source="t:1")
    config = run_config(tmp_path, [problem], {}, package={"rejected": True})
    teacher = ScriptedTeacher({"p1": [("2 + 2 = 5, so the answer is $\\boxed{5}$.", "stop")] * 3})
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    assert summary.kept == 0 and summary.rejected_rows == 3
    shards = tmp_path / "run" / "shards"
    _, header, body = (shards / "README.md").read_text().split("---\n", 2)
    assert [(c["config_name"], c.get("default")) for c in yaml.safe_load(header)["configs"]] == [
        ("rejected", None)
    ]
    assert "# the default config" not in body and "has no `train` config" in body
    assert load_dataset(str(shards), "rejected")["train"].num_rows == 3


def test_preference_pairs_are_drawn_from_the_traces_kept_before_the_budget(tmp_path):
    """With a budget of one trace a problem, `dozen` keeps one trace in train, and its pair still sets its
    shortest kept trace against its longest."""
    summary, run_dir = corpus_run(
        tmp_path, curate={"budget": 3}, package={"preference": {"policy": "shortest_longest"}}
    )
    assert summary.kept == 3 and summary.dropped["budget"] == {"over_budget": 1}
    (row,) = _read(run_dir, "preference")
    assert row["problem_id"] == "dozen"
    assert _sample_index(run_dir, row["rejected_sample_key"]) == 1
