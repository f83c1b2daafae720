"""The evaluation: scores, demonstrations, the report's verdict, the publish rule, and label scoring on the real model."""

import pytest
import torch

from common.task_spec import TaskSpec
from trainer.config import JobConfig
from trainer.evaluation.holdout import ConditionResult, EvalReport, choose_demonstrations, normalize, token_f1
from trainer.jobs.publishing import publish_decision
from trainer.training.data import Example


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
        metric="accuracy",
        holdout_examples=10,
        base_zero_shot=ConditionResult(accuracy=0.5),
        base_icl=ConditionResult(accuracy=icl, shots=4),
        adapter=ConditionResult(accuracy=adapter),
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


def test_label_scores_sharing_the_prompt_kv_equal_scoring_each_pair_alone(base_model, monkeypatch):
    """Prompts of different lengths (padding), labels of 1 to 4 tokens, two sharing a first token;
    batches of two, which group the prompts by length out of the given order; the two longest
    begin alike, so their batch runs its shared tokens once (trainer.training.shared_prefix)."""
    from common.threads import run_on_fresh_thread
    from tests.scoring import direct_logprob
    from trainer.evaluation import holdout
    from trainer.evaluation.holdout import label_logprobs, pick_labels
    from trainer.training.shared_prefix import shared_length

    monkeypatch.setattr(holdout, "_BATCH", 2)

    tok = base_model.tokenizer
    texts = (
        "Review: loved it. Verdict:",
        "Review: a long, dull and badly acted film. Verdict:",
        "Hi",
        "Review: a long, dull film, sadly. Verdict:",
    )
    prompts = [tok(text)["input_ids"] for text in texts]
    assert holdout.length_batches(prompts)[-1] == [3, 1] and shared_length([prompts[3], prompts[1]]) >= 5
    labels = [tok(text, add_special_tokens=False)["input_ids"] for text in (" very good", " very bad", " mixed feelings overall", " ok")]
    assert labels[0][0] == labels[1][0] and len(labels[3]) == 1 and len(labels[2]) > 2

    got = run_on_fresh_thread(lambda: label_logprobs(base_model.model, prompts, labels, tok.pad_token_id))
    want = run_on_fresh_thread(lambda: [[direct_logprob(base_model.model, p, c) for c in labels] for p in prompts])
    assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=2e-3), (got, want)
    assert run_on_fresh_thread(lambda: pick_labels(base_model.model, prompts, labels, tok.pad_token_id)) == [
        row.index(max(row)) for row in want
    ]
    single = run_on_fresh_thread(lambda: label_logprobs(base_model.model, prompts, [[labels[3][0]]], tok.pad_token_id))
    assert torch.allclose(torch.tensor(single)[:, 0], torch.tensor(want)[:, 3], atol=2e-3)


def test_batches_group_prompts_by_length_and_greedy_answers_come_back_in_order(base_model, monkeypatch):
    from common.threads import run_on_fresh_thread
    from tests.server.engine.test_model_runner import chat_ids
    from trainer.evaluation import holdout
    from trainer.evaluation.holdout import greedy_texts, length_batches

    monkeypatch.setattr(holdout, "_BATCH", 2)
    assert length_batches([[1] * 5, [1] * 2, [1] * 9, [1] * 1, [1] * 3]) == [[3, 1], [4, 0], [2]]
    tok = base_model.tokenizer
    texts = ["Name a colour.", "Write one long sentence about the sea, the tides and the moon.", "Hi", "What is 2+2?"]
    prompts = [chat_ids(base_model, t) for t in texts]
    assert len({len(p) for p in prompts}) == len(prompts)
    end = [tok.eos_token_id]
    together = run_on_fresh_thread(lambda: greedy_texts(base_model.model, tok, prompts, 6, end))
    alone = [run_on_fresh_thread(lambda p=p: greedy_texts(base_model.model, tok, [p], 6, end)) for p in prompts]
    assert together == ([a[0][0] for a in alone], [a[1][0] for a in alone])
    assert len(set(together[0])) == len(texts)
