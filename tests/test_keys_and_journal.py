"""Sample keys and the sample journal: what makes a resume exactly-once."""

from __future__ import annotations

import json

import pytest

from factory.errors import FactoryError
from factory.records import sample_key
from factory.storage import Journal, drop_torn_tail, read_journal

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1 + 1?"}]
SAMPLING = {"n": 4, "temperature": 0.7, "top_p": 1.0, "max_tokens": 64, "seed": 0, "stop": []}


def key(**changes):
    fields = {
        "problem_id": "p1",
        "messages": MESSAGES,
        "prompt_hash": "abc",
        "model": "m",
        "sampling": SAMPLING,
        "index": 0,
    } | changes
    return sample_key(**fields)


def test_a_key_names_one_draw_of_one_request():
    assert key() == key()  # stable
    assert key(index=1) != key()  # each draw
    assert key(problem_id="p2") != key()  # each problem
    assert key(messages=MESSAGES[1:]) != key()  # the rendered prompt
    assert key(prompt_hash="abd") != key()  # the template
    assert key(model="other") != key()  # the teacher
    assert key(sampling=SAMPLING | {"temperature": 0.8}) != key()  # how it was sampled
    assert key(sampling=SAMPLING | {"n": 8}) == key()  # but not how many draws were asked for


def test_a_journal_keeps_whole_lines_and_skips_a_torn_one(tmp_path):
    path = tmp_path / "part-00000.jsonl"
    journal = Journal(path)
    journal.append([{"a": 1}, {"a": 2}])
    journal.append([{"a": 3}])
    journal.close()
    with path.open("a") as handle:
        handle.write('{"a": 4, "tor')  # the writer was killed mid-line
    assert [row["a"] for row in read_journal(path)] == [1, 2, 3]
    drop_torn_tail(path)
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 3
    drop_torn_tail(path)  # nothing more to cut
    assert [row["a"] for row in read_journal(path)] == [1, 2, 3]


def test_a_journal_is_never_reopened_and_made_only_when_written(tmp_path):
    path = tmp_path / "part-00000.jsonl"
    Journal(path).close()
    assert not path.exists()  # nothing recorded, no file
    journal = Journal(path)
    journal.append([{"a": 1}])
    journal.close()
    with pytest.raises(FileExistsError):
        Journal(path).append([{"a": 2}])


def test_a_damaged_line_inside_a_journal_is_a_clear_error(tmp_path):
    path = tmp_path / "part-00003.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n" + "{oops\n" + json.dumps({"a": 2}) + "\n")
    with pytest.raises(FactoryError, match=r"part-00003.jsonl:2: not a JSON line"):
        list(read_journal(path))


# --- the run folder's guard: which config changes keep a folder's samples --------------------------------


def claim(run_dir, *overrides):
    from factory.config import RunConfig, load_config
    from factory.job import _claim_run_dir, generation_key

    config = load_config(RunConfig, "configs/quickstart.yaml", ["teacher.model=org/teacher", *overrides])
    _claim_run_dir(run_dir, generation_key(config, template_hash="h"))


HTTP = ["teacher.backend=http", "teacher.base_url=http://127.0.0.1:8000/v1", "teacher.dtype=auto"]


def test_moving_between_offline_vllm_and_a_server_of_the_same_model_keeps_the_folder(tmp_path):
    claim(tmp_path)  # offline vLLM: float32, eager, max_model_len 1024
    claim(tmp_path, *HTTP, "teacher.extra_body={return_token_ids: true}", "teacher.max_concurrency=64")
    claim(tmp_path, "teacher.dtype=bfloat16", "teacher.window=8")  # back, on other hardware


@pytest.mark.parametrize(
    ("overrides", "changed"),
    [
        (["teacher.model=org/other"], "teacher.model: 'org/teacher' → 'org/other'"),
        ([*HTTP, "teacher.extra_body={top_k: 5}"], "teacher.extra_body.top_k: None → 5"),
        ([*HTTP, "teacher.endpoint=completions"], "teacher.endpoint: 'chat' → 'completions'"),
        (["sampling.max_tokens=64"], "sampling.max_tokens: 192 → 64"),
    ],
)
def test_a_change_in_what_is_generated_is_refused(tmp_path, overrides, changed):
    claim(tmp_path)
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "part-00000.jsonl").write_text("{}\n")  # what is refused is mixing samples
    with pytest.raises(FactoryError, match="holds samples made with a different config") as error:
        claim(tmp_path, *overrides)
    assert changed in str(error.value)


def test_a_folder_whose_first_invocation_saved_no_sample_takes_the_corrected_config(tmp_path):
    """A wrong model name or column on the first try is put right in the same folder."""
    claim(tmp_path, "teacher.model=org/typo")
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "part-00000.jsonl").write_text("")  # opened, nothing saved
    claim(tmp_path, "teacher.model=org/teacher")
    assert "model: org/teacher" in (tmp_path / "generation.yaml").read_text()
    (tmp_path / "samples" / "part-00000.jsonl").write_text("{}\n")
    with pytest.raises(FactoryError, match="teacher.model: 'org/teacher' → 'org/typo'"):
        claim(tmp_path, "teacher.model=org/typo")


def test_a_folder_from_before_serving_settings_were_left_out_still_opens(tmp_path):
    claim(tmp_path)
    key = tmp_path / "generation.yaml"
    # Written then with every teacher field but the runtime ones.
    key.write_text(
        key.read_text().replace(
            "  model: org/teacher\n",
            "  dtype: float32\n  engine_args: {}\n  enforce_eager: true\n  max_model_len: 1024\n"
            "  model: org/teacher\n",
        )
    )
    assert "dtype" in key.read_text()
    claim(tmp_path)
