"""Evaluation on the holdout split: is the adapter better than putting examples in the prompt?

Three conditions on the same holdout examples and the same template: the base model zero-shot,
the base model with k demonstrations from the training split (in-context learning), and the
adapter. Classification is scored as the Classify endpoint answers: the label whose tokens (and
end of turn) are most likely after the prompt, so every condition can only answer a label; the
metric is exact label match. Generation is greedy decoding scored by exact match and token-overlap
F1. A forgetting probe asks base and adapter the same general-knowledge (MMLU) questions.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel

from common.prompting import encode, render_chat
from common.task_spec import Demonstration, TaskSpec, completion_ids, prompt_ids, render_prompt
from trainer.data import Example, render_example

_BATCH = 16


class ConditionResult(BaseModel):
    accuracy: float | None = None
    exact_match: float | None = None
    token_f1: float | None = None
    shots: int = 0


class ProbeResult(BaseModel):
    name: str = "mmlu"
    questions: int
    base_accuracy: float
    adapter_accuracy: float


class EvalReport(BaseModel):
    metric: Literal["accuracy", "exact_match"]
    holdout_examples: int
    base_zero_shot: ConditionResult
    base_icl: ConditionResult
    adapter: ConditionResult
    validation_loss: float | None = None
    forgetting: ProbeResult | None = None

    def score(self, result: ConditionResult) -> float:
        return float(getattr(result, self.metric) or 0.0)

    @property
    def margin(self) -> float:
        """Adapter minus k-shot baseline, on the headline metric."""
        return self.score(self.adapter) - self.score(self.base_icl)

    @property
    def adapter_beats_icl(self) -> bool:
        return self.margin > 0


# -- scoring primitives ---------------------------------------------------------------------------


def _causal_lm(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@torch.no_grad()
def label_logprobs(model: Any, prompts: Sequence[list[int]], labels: Sequence[list[int]], pad_id: int) -> list[list[float]]:
    """log P(label | prompt) for every prompt and every label's token ids.

    As the server's Classify does, each prompt is computed once and its KV shared by the labels'
    continuations; scoring a k-shot prompt costs one prompt, not one per label.
    """
    causal_lm = _causal_lm(model)
    n, steps = len(labels), max(len(label) for label in labels) - 1
    firsts = torch.tensor([label[0] for label in labels])
    scores: list[list[float]] = []
    for start in range(0, len(prompts), _BATCH):
        chunk = prompts[start : start + _BATCH]
        lengths = torch.tensor([len(p) for p in chunk])
        ids = torch.full((len(chunk), int(lengths.max())), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(chunk):
            ids[row, : len(prompt)], mask[row, : len(prompt)] = torch.tensor(prompt), 1
        out = causal_lm.model(input_ids=ids, attention_mask=mask, use_cache=steps > 0)
        last = out.last_hidden_state[torch.arange(len(chunk)), lengths - 1]
        chunk_scores = causal_lm.lm_head(last).float().log_softmax(-1)[:, firsts]  # [B, n]
        if steps:
            chunk_scores += _continuation_scores(causal_lm, out.past_key_values, mask, lengths, labels, pad_id).view(len(chunk), n)
        scores += chunk_scores.tolist()
    return scores


def _continuation_scores(
    causal_lm: Any, cache: Any, mask: torch.Tensor, lengths: torch.Tensor, labels: Sequence[list[int]], pad_id: int
) -> torch.Tensor:
    """log P(label tokens after the first | prompt, first token), for rows prompt-major: [B * n]."""
    n, steps = len(labels), max(len(label) for label in labels) - 1
    cache.batch_repeat_interleave(n)
    inputs = torch.full((n, steps), pad_id, dtype=torch.long)
    targets = torch.full((n, steps), -100, dtype=torch.long)
    for j, label in enumerate(labels):
        inputs[j, : len(label) - 1], targets[j, : len(label) - 1] = torch.tensor(label[:-1]), torch.tensor(label[1:])
    rows = len(lengths) * n
    inputs, targets = inputs.repeat(len(lengths), 1), targets.repeat(len(lengths), 1)
    positions = lengths.repeat_interleave(n)[:, None] + torch.arange(steps)[None, :]
    attention = torch.cat([mask.repeat_interleave(n, dim=0), (targets != -100).long()], dim=1)
    hidden = causal_lm.model(
        input_ids=inputs, attention_mask=attention, position_ids=positions, past_key_values=cache, use_cache=False
    ).last_hidden_state
    wanted = targets != -100
    picked = causal_lm.lm_head(hidden[wanted]).float().log_softmax(-1).gather(-1, targets[wanted][:, None])[:, 0]
    owner = torch.arange(rows)[:, None].expand_as(wanted)[wanted]
    return torch.zeros(rows).index_add_(0, owner, picked)


def pick_labels(model: Any, prompts: Sequence[list[int]], label_ids: Sequence[list[int]], pad_id: int) -> list[int]:
    """Index of the most likely label after each prompt."""
    scores = label_logprobs(model, prompts, label_ids, pad_id)
    return [max(range(len(label_ids)), key=row.__getitem__) for row in scores]


@torch.no_grad()
def greedy_texts(model: Any, tokenizer: Any, prompts: Sequence[list[int]], max_new_tokens: int, end_ids: Sequence[int]) -> list[str]:
    texts: list[str] = []
    for start in range(0, len(prompts), _BATCH):
        chunk = prompts[start : start + _BATCH]
        width = max(len(p) for p in chunk)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=list(end_ids), pad_token_id=pad
        )
        texts += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return texts


def normalize(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return float(pred == ref)
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


# -- the conditions -------------------------------------------------------------------------------


def choose_demonstrations(train: Sequence[Example], spec: TaskSpec, k: int, seed: int) -> list[Demonstration]:
    """k demonstrations from the training split; for classification, balanced over the labels."""
    rng = random.Random(seed)
    pool = list(train)
    rng.shuffle(pool)
    if spec.kind != "classification":
        return [Demonstration(input=e.input, output=e.output) for e in pool[:k]]
    by_label = {label: [e for e in pool if e.output == label] for label in spec.labels}
    chosen: list[Example] = []
    while len(chosen) < k and any(by_label.values()):
        for label in spec.labels:
            if by_label[label] and len(chosen) < k:
                chosen.append(by_label[label].pop())
    rng.shuffle(chosen)
    return [Demonstration(input=e.input, output=e.output) for e in chosen]


def _prompt(tokenizer: Any, spec: TaskSpec, example: Example, demos: Sequence[Demonstration]) -> list[int]:
    if not demos:
        return prompt_ids(tokenizer, render_example(tokenizer, spec, example))
    if not example.conversation:
        return prompt_ids(tokenizer, render_prompt(tokenizer, spec, example.input, demos))
    messages = [{"role": "system", "content": spec.system_text()}] if spec.system_text() else []
    for demo in demos:
        messages += [{"role": "user", "content": demo.input}, {"role": "assistant", "content": demo.output}]
    messages += [{"role": r, "content": c} for r, c in example.conversation if r != "system" or not spec.system_text()]
    return prompt_ids(tokenizer, render_chat(tokenizer, messages))


def run_condition(
    model: Any, tokenizer: Any, spec: TaskSpec, holdout: Sequence[Example], demos: Sequence[Demonstration], end_id: int
) -> ConditionResult:
    prompts = [_prompt(tokenizer, spec, e, demos) for e in holdout]
    if spec.kind == "classification":
        label_ids = [completion_ids(tokenizer, spec, label, end_id) for label in spec.labels]
        picked = pick_labels(model, prompts, label_ids, tokenizer.pad_token_id)
        correct = sum(spec.labels[p] == e.output for p, e in zip(picked, holdout, strict=True))
        return ConditionResult(accuracy=correct / len(holdout), shots=len(demos))
    longest = max(len(completion_ids(tokenizer, spec, e.output, end_id)) for e in holdout)
    texts = greedy_texts(model, tokenizer, prompts, longest + 8, [end_id])
    exact = sum(normalize(t) == normalize(e.output) for t, e in zip(texts, holdout, strict=True)) / len(holdout)
    f1 = sum(token_f1(t, e.output) for t, e in zip(texts, holdout, strict=True)) / len(holdout)
    return ConditionResult(exact_match=exact, token_f1=f1, shots=len(demos))


# -- forgetting probe -----------------------------------------------------------------------------


def load_probe(path: Path, count: int) -> list[dict[str, Any]]:
    if count <= 0 or not path.is_file():
        return []
    with path.open() as f:
        return [json.loads(line) for line in f][:count]


def probe_accuracy(model: Any, tokenizer: Any, questions: Sequence[dict[str, Any]]) -> float:
    """Four-choice questions in the usual MMLU prompt, answered by the likeliest letter."""
    letters = "ABCD"
    prompts = []
    for q in questions:
        choices = "\n".join(f"{letter}. {choice}" for letter, choice in zip(letters, q["choices"], strict=True))
        prompts.append(
            prompt_ids(
                tokenizer, f"The following is a multiple choice question about {q['subject']}.\n\n{q['question']}\n{choices}\nAnswer:"
            )
        )
    letter_ids = [encode(tokenizer, f" {letter}") for letter in letters]
    picked = pick_labels(model, prompts, letter_ids, tokenizer.pad_token_id)
    return sum(p == q["answer"] for p, q in zip(picked, questions, strict=True)) / len(questions)


def evaluate(
    model: Any,
    tokenizer: Any,
    spec: TaskSpec,
    holdout: Sequence[Example],
    demos: Sequence[Demonstration],
    end_id: int,
    probe: Sequence[dict[str, Any]] = (),
    validation_loss: float | None = None,
) -> EvalReport:
    """The report comparing base zero-shot, base k-shot (`demos`, from the training split) and the adapter (the PEFT model)."""
    model.eval()
    with model.disable_adapter():
        zero = run_condition(model, tokenizer, spec, holdout, (), end_id)
        icl = run_condition(model, tokenizer, spec, holdout, demos, end_id) if demos else zero
        base_probe = probe_accuracy(model, tokenizer, probe) if probe else None
    tuned = run_condition(model, tokenizer, spec, holdout, (), end_id)
    forgetting = None
    if probe and base_probe is not None:
        forgetting = ProbeResult(questions=len(probe), base_accuracy=base_probe, adapter_accuracy=probe_accuracy(model, tokenizer, probe))
    return EvalReport(
        metric="accuracy" if spec.kind == "classification" else "exact_match",
        holdout_examples=len(holdout),
        base_zero_shot=zero,
        base_icl=icl,
        adapter=tuned,
        validation_loss=validation_loss,
        forgetting=forgetting,
    )
