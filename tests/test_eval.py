"""`factory eval` on a scripted model (deterministic, instant): the pass@k estimator against hand-computed
values, every metric of a small eval against what its script implies, fidelity against a reference run,
resume after SIGKILL, and one-line errors."""

from __future__ import annotations

import json
import signal
from math import comb
from pathlib import Path

import pytest
from click.testing import CliRunner
from killable import run_killable
from scripted_teacher import make_sample

from factory.cli import main
from factory.config import EvalConfig, build
from factory.errors import FactoryError
from factory.eval import bootstrap, evaluate, load_results, paired, pass_at_k
from factory.records import Sample

MODEL = "scripted-student"
HARNESS = Path(__file__).with_name("eval_harness.py")


def boxed(answer: str) -> str:
    return f"Working it out step by step gives {answer}.\nSo the answer is $\\boxed{{{answer}}}$."


# Problem → (greedy answer, the four sampled draws' answers); gold answers are p<i> → str(i).
SCRIPT = {
    "p1": ("1", ["1", "1", "1", "1"]),  # all right
    "p2": ("2", ["9", "2", "9", "9"]),  # greedy right, 1 of 4 draws, majority wrong
    "p3": ("7", ["3", "3", "5", "7"]),  # greedy wrong, 2 of 4 draws, majority right
    "p4": ("8", ["8", "8", "4", "4"]),  # greedy wrong, a tie of 2 against 2: no majority
    "p5": ("0", ["6", "6", "6", "6"]),  # all wrong
}
PROBLEM_ROWS = [
    {"id": "p1", "problem": "What is 1?", "answer": "1", "source": "alpha", "difficulty": 1},
    {"id": "p2", "problem": "What is 2?", "answer": "2", "source": "alpha", "difficulty": 2},
    {"id": "p3", "problem": "What is 3?", "answer": "3", "source": "beta", "difficulty": 1},
    {"id": "p4", "problem": "What is 4?", "answer": "4", "source": "beta", "difficulty": 2},
    {"id": "p5", "problem": "What is 5?", "answer": "5", "source": "beta", "difficulty": 2},
]


class ScriptedModel:
    """Answers from SCRIPT: the greedy answer at temperature 0, else draw `index`'s. Samples carry the
    sampling they were asked with, as an engine's do, so their keys are the run's."""

    backend = "scripted"
    model = MODEL

    def __init__(self, script=SCRIPT) -> None:
        self.script = script
        self.asked = 0

    def stream(self, source, template, sampling):
        while (request := source.poll(block=True)) is not None:
            greedy, draws = self.script[request.problem.id]
            samples = []
            for index in request.indices:
                answer = greedy if sampling.temperature == 0 else draws[index]
                finish = "length" if answer == "0" else "stop"
                samples.append(make_sample(request.problem, index, boxed(answer), finish, sampling, MODEL))
            self.asked += len(request.indices)
            yield samples

    def close(self) -> None:
        pass


def eval_config(tmp_path: Path, **eval_settings) -> EvalConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(row) + "\n" for row in PROBLEM_ROWS))
    return build(
        EvalConfig,
        {
            "eval_dir": str(tmp_path / "eval"),
            "problems": {"paths": [str(problems)]},
            "prompt": {"template": "boxed_cot"},
            "model": {"model": MODEL},
            "sampling": {"n": 4, "temperature": 0.8, "max_tokens": 64},
            "eval": {"k": [1, 2, 4], "bootstrap": 200, **eval_settings},
        },
    )


def test_pass_at_k_is_the_unbiased_estimator():
    # 1 - C(n-c, k) / C(n, k), by hand: n=5, c=2, k=2 → 1 - 3/10; n=10, c=3, k=5 → 1 - 21/252.
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8)  # pass@1 is the fraction correct
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 4) == 1.0  # every draw is in the one subset of 4
    for n, c, k in [(16, 5, 3), (100, 7, 10), (200, 150, 100)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_bootstrap_intervals_hold_the_mean_and_paired_differences_are_tighter():
    values = [1.0] * 30 + [0.0] * 70
    interval = bootstrap(values, 2000, 0.95, seed=0)
    assert interval.value == pytest.approx(0.3)
    assert 0.19 < interval.low < 0.3 < interval.high < 0.41
    # The same problems, the second model right on 10 more: unpaired intervals overlap, the paired one is
    # clear of zero.
    after = [1.0] * 40 + [0.0] * 60
    difference = paired(after, values, 2000, 0.95, seed=0)
    assert difference.value == pytest.approx(0.1) and difference.low > 0.03
    assert bootstrap(after, 2000, 0.95, seed=0).low < interval.high


def test_an_eval_scores_what_its_script_implies(tmp_path):
    model = ScriptedModel()
    results = evaluate(eval_config(tmp_path), lambda line: None, start_model=lambda: model)
    assert model.asked == 5 + 5 * 4
    metrics = {name: entry["value"] for name, entry in results["metrics"].items()}
    assert metrics["greedy_accuracy"] == pytest.approx(2 / 5)
    correct = [4, 1, 2, 2, 0]
    for k in (1, 2, 4):
        expected = sum(1 - comb(4 - c, k) / comb(4, k) for c in correct) / 5
        assert metrics[f"pass@{k}"] == pytest.approx(expected)
    # maj@1 is the first draw: right on p1 and p3. maj@2: p1 and p3 (3, 3) right, p2's (9, 2) a tie, so
    # wrong. maj@4: p1 and p3 (3 against 5 and 7) right, p4's 2-2 tie counts as no majority.
    assert metrics["maj@1"] == pytest.approx(2 / 5)
    assert metrics["maj@2"] == pytest.approx(2 / 5)
    assert metrics["maj@4"] == pytest.approx(2 / 5)
    for entry in results["metrics"].values():
        assert entry["low"] <= entry["value"] <= entry["high"]
    assert results["breakdowns"] == ["source", "difficulty"]
    assert results["by_source"]["alpha"]["problems"] == 2
    assert results["by_source"]["alpha"]["metrics"]["greedy_accuracy"]["value"] == 1.0
    # Difficulty 2 is p2, p4 and p5: one right draw or more in 4 on the first two.
    assert results["by_difficulty"]["2"]["metrics"]["pass@4"]["value"] == pytest.approx(2 / 3)
    assert results["finish_reasons"] == {"greedy": {"stop": 4, "length": 1}, "sampled": {"stop": 20}}
    tokens = len(boxed("1").split())  # every scripted answer is one character: the same length
    assert results["output_tokens"] == {"greedy": tokens, "sampled": tokens}
    rows = [json.loads(line) for line in (tmp_path / "eval" / "problems.jsonl").read_text().splitlines()]
    assert [row["problem_id"] for row in rows] == ["p1", "p2", "p3", "p4", "p5"]
    assert rows[2]["answers"] == ["3", "3", "5", "7"] and rows[2]["correct"] == 2
    assert rows[2]["greedy_answer"] == "7" and rows[2]["greedy_correct"] is False
    assert load_results(tmp_path / "eval") == results

    # The same command again asks the model nothing and writes the same results.
    again = ScriptedModel()
    assert evaluate(eval_config(tmp_path), lambda line: None, start_model=lambda: again) == results
    assert again.asked == 0


def test_fidelity_compares_with_the_reference_runs_majority(tmp_path):
    from factory.job import run

    # The reference: the "teacher" answers p1..p5 with majorities 1, 9, 3, (tie), 6 over its 4 draws.
    teacher_config = eval_config(tmp_path / "teacher")
    from factory.eval import part_config

    run(part_config(teacher_config, "sampled"), lambda line: None, start_teacher=ScriptedModel)
    reference = tmp_path / "teacher" / "eval" / "sampled"
    student = {pid: (answer, draws) for pid, (answer, draws) in SCRIPT.items()}
    student["p2"] = ("9", SCRIPT["p2"][1])  # the student repeats the teacher's mistake
    results = evaluate(
        eval_config(tmp_path, reference=str(reference)),
        lambda line: None,
        start_model=lambda: ScriptedModel(student),
    )
    fidelity = results["fidelity"]
    # Greedy 1, 9, 7, 8, 0 against majorities 1, 9, 3, -, 6: p4 has no majority (2-2).
    assert fidelity["without_majority"] == 1 and fidelity["problems"] == 4
    assert fidelity["agree"]["value"] == pytest.approx(2 / 4)
    # The teacher is right on p1 and p3 (agree on p1), wrong on p2 and p5 (agree on p2).
    assert fidelity["teacher_right"]["problems"] == 2 and fidelity["teacher_right"]["agree"]["value"] == 0.5
    assert fidelity["teacher_wrong"]["problems"] == 2 and fidelity["teacher_wrong"]["agree"]["value"] == 0.5


@pytest.mark.parametrize(
    "folder, count", [("samples", 1), ("verdicts", 3), ("curated", 5), ("samples", 6), ("verdicts", 20)]
)
def test_sigkill_mid_eval_then_the_same_command_finishes_with_each_draw_made_once(tmp_path, folder, count):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tmp": str(tmp_path)}))
    log = tmp_path / "harness.log"
    killed = run_killable(HARNESS, [str(spec), folder, str(count)], log)
    assert killed == -signal.SIGKILL, log.read_text()[-2000:]
    made_before = len(_sample_rows(tmp_path))
    assert run_killable(HARNESS, [str(spec), folder, "0"], log) == 0, log.read_text()[-2000:]
    assert log.read_text().split()[-2:] == ["asked", str(25 - made_before)]  # only the missing draws
    rows = _sample_rows(tmp_path)
    keys = {Sample.from_dict(row).key() for row in rows}
    assert len(rows) == len(keys) == 5 + 5 * 4  # every draw on disk, each once
    clean = evaluate(eval_config(tmp_path / "clean"), lambda line: None, start_model=ScriptedModel)
    assert _without_dir(load_results(tmp_path / "eval")) == _without_dir(clean)


def _sample_rows(tmp_path: Path) -> list[dict]:
    return [
        json.loads(line)
        for part in ("greedy", "sampled")
        for path in sorted((tmp_path / "eval" / part / "samples").glob("part-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _without_dir(results: dict) -> dict:
    return {key: value for key, value in results.items() if key != "eval_dir"}


def test_eval_errors_are_one_line(tmp_path):
    with pytest.raises(FactoryError, match="eval.k asks for k=8 but sampling.n is 4"):
        build(EvalConfig, {"problems": {"paths": ["x.jsonl"]}, "eval": {"k": [1, 8]}})
    with pytest.raises(FactoryError, match="results.json: not found; run `factory eval CONFIG` first"):
        load_results(tmp_path)
    config = eval_config(tmp_path, reference=str(tmp_path / "nowhere"))
    with pytest.raises(FactoryError, match="eval.reference: .* is not a run folder with verdicts"):
        evaluate(config, lambda line: None, start_model=ScriptedModel)
    path = tmp_path / "eval.yaml"
    path.write_text("problems: {paths: [data/basic.jsonl]}\neval: {k: [], greedy: false}\n")
    result = CliRunner().invoke(main, ["eval", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {path}:2: eval.k is empty and greedy is off: nothing to measure"
    ]


def test_compare_prints_paired_differences_over_the_shared_problems(tmp_path):
    evaluate(eval_config(tmp_path / "before", label="before"), lambda line: None, start_model=ScriptedModel)
    better = {pid: (str(int(pid[1:])), draws) for pid, (_, draws) in SCRIPT.items()}  # greedy right on all 5
    evaluate(
        eval_config(tmp_path / "after", label="after"),
        lambda line: None,
        start_model=lambda: ScriptedModel(better),
    )
    result = CliRunner().invoke(
        main, ["compare", str(tmp_path / "before" / "eval"), str(tmp_path / "after" / "eval")]
    )
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert (
        out[1].startswith("before")
        and "40.0%" in out[1]
        and out[2].startswith("after")
        and "100.0%" in out[2]
    )
    assert out[3] == "paired differences over the 5 problems they share (later minus earlier):"
    # Greedy right on 2 of 5, then on 5 of 5: +60 points; the draws are the same, so pass@k does not move.
    assert out[4].startswith("  after - before: greedy_accuracy +60.0 pts [")
    assert "pass@4 +0.0 pts [+0.0, +0.0]" in out[4]
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "not found" in result.output
