"""The TRL round trip: rows rendered as SFTTrainer renders them, damaged ones counted with their reason."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from factory.errors import FactoryError
from factory.roundtrip import (
    OVER_MAX_LENGTH,
    THINK_DROPPED,
    RoundTrip,
    RoundTripReport,
    RowCheck,
    reasoning_of,
)
from factory.sft import check_round_trip

# In the style of DeepSeek-R1-Distill's template: an assistant turn keeps only what follows `</think>`.
R1_TEMPLATE = (
    "{% set ns = namespace(system_prompt='') %}"
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{% endif %}{% endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<｜Assistant｜>' + content + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)

PROMPT = [
    {"role": "system", "content": "Solve the problem. Put the final answer in \\boxed{}."},
    {"role": "user", "content": "Compute 3 + 4."},
]
THINK = "<think>\nThree plus four is seven.\n</think>\n\nSo \\boxed{7}."
OPEN_ENDED = "Three plus four is seven.</think>\n\nSo \\boxed{7}."  # the generation prompt opened the block
PLAIN = "3 + 4 = 7, so \\boxed{7}."
EMPTY_THINK = "<think>\n\n</think>\n\nSo \\boxed{7}."


def completion(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


@pytest.fixture(scope="module")
def r1_tokenizer(tokenizer):
    import copy

    stripped = copy.deepcopy(tokenizer)
    stripped.chat_template = R1_TEMPLATE
    return stripped


def trl_prepare(tokenizer, rows, max_length):
    """TRL's own preparation of `rows` (tokenize, labels, truncation, the fully-masked filter), no model."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir="unused", max_length=max_length, use_cpu=True, bf16=False, report_to="none")
    # `_prepare_dataset` reads only these attributes of the trainer (trl 1.16).
    trainer = SimpleNamespace(_tokenizer=tokenizer, chat_template=None, completion_only_loss=True)
    return SFTTrainer._prepare_dataset(
        trainer, Dataset.from_list(rows), tokenizer, args, False, None, "train"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (THINK, "Three plus four is seven."),
        (
            OPEN_ENDED,
            "Three plus four is seven.",
        ),  # R1-style trace: no opening tag, the reasoning still counts
        (PLAIN, None),
        (EMPTY_THINK, None),  # an empty block has nothing to lose
    ],
)
def test_reasoning_of(text, expected):
    assert reasoning_of(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        (THINK, THINK_DROPPED),
        (OPEN_ENDED, THINK_DROPPED),
        (PLAIN, None),  # nothing to lose: not counted
        (EMPTY_THINK, None),
    ],
)
def test_r1_style_template_drops_the_think_block(r1_tokenizer, text, reason):
    check = RoundTrip(r1_tokenizer, 1024).check(PROMPT, completion(text))
    assert check.reason == reason


@pytest.mark.parametrize("text", [THINK, OPEN_ENDED, PLAIN])
def test_embedded_template_keeps_the_think_block(tokenizer, text):
    assert RoundTrip(tokenizer, 1024).check(PROMPT, completion(text)).reason is None


def test_think_dropped_is_found_before_over_max_length(r1_tokenizer):
    check = RoundTrip(r1_tokenizer, 16).check(PROMPT, completion(THINK))
    assert check.reason == THINK_DROPPED and check.tokens > 16


@pytest.mark.parametrize(
    "text",
    [THINK, PLAIN, "<think>\n" + "Let me add the numbers step by step. " * 60 + "\n</think>\n\n\\boxed{7}"],
)
@pytest.mark.parametrize("template", ["embedded", "r1"])
def test_token_count_is_trls(tokenizer, r1_tokenizer, text, template):
    tok = tokenizer if template == "embedded" else r1_tokenizer
    row = {"prompt": PROMPT, "completion": completion(text)}
    (prepared,) = trl_prepare(tok, [row], max_length=None)
    assert RoundTrip(tok, 1024).check(row["prompt"], row["completion"]).tokens == len(prepared["input_ids"])


def test_over_max_length_and_the_rows_trl_drops(tokenizer):
    long_prompt = [PROMPT[0], {"role": "user", "content": "Compute 3 + 4. " * 40}]
    rows = [
        {"prompt": PROMPT, "completion": completion(PLAIN)},
        {"prompt": PROMPT, "completion": completion(THINK + " Checked. " * 40)},
        {"prompt": long_prompt, "completion": completion(PLAIN)},
    ]
    round_trip = RoundTrip(tokenizer, 100)
    checks = [round_trip.check(row["prompt"], row["completion"]) for row in rows]
    assert [(c.reason, c.prompt_fills) for c in checks] == [
        (None, False),
        (OVER_MAX_LENGTH, False),  # TRL cuts its end off: the answer goes
        (OVER_MAX_LENGTH, True),  # its prompt alone fills max_length: TRL leaves the row out
    ]
    kept = trl_prepare(tokenizer, rows, max_length=100)
    assert kept.num_rows == 2 and [len(ids) for ids in kept["input_ids"]] == [checks[0].tokens, 100]


def test_report_counts_and_message():
    report = RoundTripReport(max_length=1024, policy="warn", tokenizer="student", chat_template_hash="ab" * 8)
    assert report.message() is None  # clean
    for check in [
        RowCheck(300, None),
        RowCheck(200, THINK_DROPPED),
        RowCheck(1400, OVER_MAX_LENGTH),
        RowCheck(1100, OVER_MAX_LENGTH, prompt_fills=True),
    ]:
        report.add(check)
    assert report.to_dict() == {
        "max_length": 1024,
        "policy": "warn",
        "tokenizer": "student",
        "chat_template_hash": "abababababababab",
        "rows": 4,
        "think_dropped": 1,
        "over_max_length": 2,
        "prompt_fills": 1,
        "longest": 1400,
        "dropped": 0,
    }
    assert report.message() == (
        "round trip: 1 of 4 rows lose their <think> block to the chat template, 2 exceed max_length=1024 "
        "tokens (longest 1400), 1 of them with a prompt that alone fills it; TRL would train on damaged rows. "
        "Set package.student.policy: drop to leave them out, or fix the template / raise max_length."
    )


def test_report_under_drop():
    report = RoundTripReport(max_length=64, policy="drop", tokenizer="student", chat_template_hash="0" * 16)
    for check in [RowCheck(10, None), RowCheck(90, OVER_MAX_LENGTH)]:
        report.add(check)
    assert report.dropped == 1
    assert report.message(setting="round_trip") == (
        "round trip: 1 of 2 rows exceed max_length=64 tokens (longest 90); 1 row left out (round_trip: drop)."
    )


@pytest.fixture
def mixed_rows():
    from datasets import Dataset

    return Dataset.from_list(
        [
            {"prompt": PROMPT, "completion": completion(PLAIN), "problem_id": "clean"},
            {"prompt": PROMPT, "completion": completion(THINK), "problem_id": "think"},
            {"prompt": PROMPT, "completion": completion(PLAIN + " Checked." * 200), "problem_id": "long"},
        ]
    )


@pytest.mark.parametrize(
    "policy, kept, logged",
    [
        ("warn", ["clean", "think", "long"], "warning: round trip: 1 of 3 rows lose their <think> block"),
        ("drop", ["clean"], "2 rows left out (round_trip: drop)."),
    ],
)
def test_sft_policy(r1_tokenizer, mixed_rows, policy, kept, logged):
    lines: list[str] = []
    dataset, report = check_round_trip(mixed_rows, RoundTrip(r1_tokenizer, 256), policy, lines.append)
    assert dataset["problem_id"] == kept
    assert (report.think_dropped, report.over_max_length, report.dropped) == (1, 1, 3 - len(kept))
    assert len(lines) == 1 and logged in lines[0]


def test_sft_policy_fail_and_no_room(r1_tokenizer, tokenizer, mixed_rows):
    with pytest.raises(FactoryError, match=r"^round trip: 1 of 3 rows lose their <think> block"):
        check_round_trip(mixed_rows, RoundTrip(r1_tokenizer, 256), "fail", print)
    clean = mixed_rows.select([0])
    lines: list[str] = []
    assert check_round_trip(clean, RoundTrip(tokenizer, 256), "fail", lines.append)[0] is clean
    assert lines == []  # a clean dataset says nothing
    with pytest.raises(
        FactoryError, match="max_length: 16 tokens leaves no room for any trace after its prompt"
    ):
        check_round_trip(mixed_rows, RoundTrip(tokenizer, 16), "warn", print)


def test_load_embedded_with_a_template_file(tmp_path):
    template = tmp_path / "r1.jinja"
    template.write_text(R1_TEMPLATE, encoding="utf-8")
    round_trip = RoundTrip.load("embedded:smollm2-135m-instruct", 512, str(template), print)
    assert round_trip.check(PROMPT, completion(THINK)).reason == THINK_DROPPED
    report = round_trip.report("warn")
    assert (report.tokenizer, report.max_length) == ("embedded:smollm2-135m-instruct", 512)
    own = RoundTrip.load("embedded:smollm2-135m-instruct", 512, None, print)
    assert own.chat_template_hash != round_trip.chat_template_hash and len(own.chat_template_hash) == 16


def test_load_errors(tmp_path, tokenizer, monkeypatch):
    with pytest.raises(FactoryError, match=r"student tokenizer '.*nowhere': cannot load it"):
        RoundTrip.load(str(tmp_path / "nowhere"), 512, None, print)
    with pytest.raises(FactoryError, match=r"chat_template: cannot read .*missing\.jinja"):
        RoundTrip.load("embedded:smollm2-135m-instruct", 512, str(tmp_path / "missing.jinja"), print)
    bare = tmp_path / "bare"
    tokenizer.save_pretrained(bare)
    (bare / "chat_template.jinja").unlink()
    with pytest.raises(FactoryError, match="has no chat template; give one as a Jinja file"):
        RoundTrip.load(str(bare), 512, None, print)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(FactoryError, match=r"needs transformers .*install factory\[embedded\]"):
        RoundTrip.load("embedded:smollm2-135m-instruct", 512, None, print)
