"""The evaluation's pure parts: scores, demonstrations, the report's verdict and the publish rule."""

import pytest

from server.task_spec import TaskSpec
from trainer.config import JobConfig
from trainer.data import Example
from trainer.evaluation import ConditionResult, EvalReport, choose_demonstrations, normalize, token_f1
from trainer.publishing import publish_decision


def test_token_f1_and_normalisation():
    assert normalize("  The Cat, sat! ") == "the cat sat"
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a cat", "the cat sat") == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert token_f1("", "") == 1.0 and token_f1("dog", "cat") == 0.0


def test_demonstrations_are_balanced_over_labels_and_seeded():
    spec = TaskSpec(name="s", kind="classification", labels=["pos", "neg"])
    train = [Example(i, f"text {i}", "pos" if i % 5 else "neg") for i in range(1, 41)]
    demos = choose_demonstrations(train, spec, 4, seed=1)
    assert sorted(d.output for d in demos) == ["neg", "neg", "pos", "pos"]
    assert demos == choose_demonstrations(train, spec, 4, seed=1)
    assert choose_demonstrations(train, spec, 0, seed=1) == []


def report(adapter: float, icl: float) -> EvalReport:
    return EvalReport(
        metric="accuracy", holdout_examples=10, base_zero_shot=ConditionResult(accuracy=0.5),
        base_icl=ConditionResult(accuracy=icl, shots=4), adapter=ConditionResult(accuracy=adapter),
    )


def test_the_report_says_whether_the_adapter_beats_prompting():
    assert report(0.8, 0.6).margin == pytest.approx(0.2) and report(0.8, 0.6).adapter_beats_icl
    assert not report(0.6, 0.6).adapter_beats_icl


def test_publish_policy():
    config = JobConfig(adapter_name="x", publish="if_beats_icl")
    assert publish_decision(config, report(0.8, 0.6)) == (True, "")
    ok, note = publish_decision(config, report(0.5, 0.6))
    assert not ok and "did not beat 4-shot prompting" in note
    assert publish_decision(JobConfig(adapter_name="x", publish="never"), report(0.9, 0.1))[0] is False
    assert publish_decision(JobConfig(adapter_name="x"), report(0.1, 0.9))[0] is True
