"""Evaluation on the holdout split: is the adapter better than putting examples in the prompt?

Three conditions on the same holdout examples and the same template: the base model zero-shot,
the base model with k demonstrations from the training split (in-context learning), and the
adapter. Classification is scored as the Classify endpoint answers: the label whose tokens (and
end of turn) are most likely after the prompt, so every condition can only answer a label; the
headline metric is exact label match, with per-label metrics, the confusion matrix and calibration
beside it (trainer.evaluation.metrics). Generation is greedy decoding scored by exact match and
token-overlap F1, with verbosity, repetition and empty or truncated answers. A sample of holdout
examples keeps the three systems' answers side by side, sorted into what the adapter fixed, what
it broke and what all three get wrong. A forgetting probe asks base and adapter the same
general-knowledge (MMLU) questions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel

from common.prompting import encode, render_chat
from common.task_spec import Demonstration, TaskSpec, completion_ids, prompt_ids, render_prompt
from trainer.evaluation.metrics import (
    LabelMetrics,
    confusion_matrix,
    expected_calibration_error,
    length_ratio,
    macro_f1,
    normalize,
    per_label,
    repetition_rate,
    token_f1,
)
from trainer.training.data import Example, render_example
from trainer.training.logits import head_logits
from trainer.training.loop import model_device
from trainer.training.shared_prefix import forward_after_shared, may_share, shared_length

_BATCH = 16
MAX_EXAMPLES_PER_CATEGORY = 10
MAX_EXAMPLE_CHARS = 600
VERBOSE_RATIO = 2.0
REPETITIVE_RATE = 0.2


class ConfusionRow(BaseModel):
    counts: list[int]  # holdout examples of one true label, by the label answered


class ConditionResult(BaseModel):
    accuracy: float | None = None
    exact_match: float | None = None
    token_f1: float | None = None
    shots: int = 0
    # classification
    macro_f1: float | None = None
    per_label: list[LabelMetrics] = []
    confusion: list[ConfusionRow] = []  # rows: true label, columns: answered label (EvalReport.labels order)
    calibration_error: float | None = None  # expected calibration error of the answered label's probability
    # generation
    length_ratio: float | None = None  # mean words per reference word
    repetition_rate: float | None = None  # mean share of repeated word 3-grams
    empty: float | None = None  # share of empty answers
    truncated: float | None = None  # share of answers cut by the length limit


class ErrorExample(BaseModel):
    """One holdout example with every system's answer (texts cut to MAX_EXAMPLE_CHARS)."""

    line: int
    input: str
    reference: str
    zero_shot: str
    icl: str
    adapter: str
    category: Literal["fixed", "broken", "wrong_all", "right_all", "other"]
    tags: list[str] = []  # generation: "verbose", "repetitive", "empty", "truncated" (of the adapter's answer)


class DataNotes(BaseModel):
    """What was dropped from the data before training."""

    duplicates_dropped: int = 0
    duplicates: list[str] = []  # the first few, "line 12 (repeats line 3)"
    holdout_overlap_dropped: int = 0
    holdout_overlap_lines: list[int] = []


@dataclass
class Answers:
    """One condition's answers to the holdout, for the side-by-side view."""

    texts: list[str]
    correct: list[bool]
    truncated: list[bool]


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
    labels: list[str] = []  # classification: the order of the confusion matrices
    examples: list[ErrorExample] = []
    data: DataNotes = DataNotes()

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


def length_batches(prompts: Sequence[list[int]]) -> list[list[int]]:
    """Indices of `prompts` in batches of `_BATCH` of similar length: every row of a batch is padded
    to its longest, so batches in the given order compute tokens that are only padding (on the
    forgetting probe, figures in docs/performance.md)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    return [order[start : start + _BATCH] for start in range(0, len(order), _BATCH)]


@torch.no_grad()
def label_logprobs(model: Any, prompts: Sequence[list[int]], labels: Sequence[list[int]], pad_id: int) -> list[list[float]]:
    """log P(label | prompt) for every prompt and every label's token ids.

    As the server's Classify does, each prompt is computed once and its KV shared by the labels'
    continuations; scoring a k-shot prompt costs one prompt, not one per label. The tokens every
    prompt of a batch begins with (system turn, instruction, the k demonstrations) run once for the
    batch (trainer.training.shared_prefix).
    """
    causal_lm = _causal_lm(model)
    device = model_device(causal_lm)
    n, steps = len(labels), max(len(label) for label in labels) - 1
    firsts = torch.tensor([label[0] for label in labels], device=device)
    scores: list[list[float]] = [[] for _ in prompts]
    for rows in length_batches(prompts):
        chunk = [prompts[i] for i in rows]
        lengths = torch.tensor([len(p) for p in chunk])
        ids = torch.full((len(chunk), int(lengths.max())), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(chunk):
            ids[row, : len(prompt)], mask[row, : len(prompt)] = torch.tensor(prompt), 1
        ids, mask, lengths = ids.to(device), mask.to(device), lengths.to(device)
        shared = shared_length(chunk)
        if may_share(causal_lm.config, shared, ids.shape[1]):
            hidden, cache = forward_after_shared(causal_lm.model, ids, mask, shared)
        else:
            shared = 0
            out = causal_lm.model(input_ids=ids, attention_mask=mask, use_cache=steps > 0)
            hidden, cache = out.last_hidden_state, out.cache
        last = hidden[torch.arange(len(chunk), device=device), lengths - 1 - shared]
        chunk_scores = head_logits(causal_lm, last).log_softmax(-1)[:, firsts]  # [B, n]
        if steps:
            chunk_scores += _continuation_scores(causal_lm, cache, mask, lengths, labels, pad_id).view(len(chunk), n)
        for i, row_scores in zip(rows, chunk_scores.tolist(), strict=True):
            scores[i] = row_scores
    return scores


def _continuation_scores(
    causal_lm: Any, cache: Any, mask: torch.Tensor, lengths: torch.Tensor, labels: Sequence[list[int]], pad_id: int
) -> torch.Tensor:
    """log P(label tokens after the first | prompt, first token), for rows prompt-major: [B * n]."""
    n, steps = len(labels), max(len(label) for label in labels) - 1
    device = mask.device
    cache.batch_repeat_interleave(n)
    inputs = torch.full((n, steps), pad_id, dtype=torch.long)
    targets = torch.full((n, steps), -100, dtype=torch.long)
    for j, label in enumerate(labels):
        inputs[j, : len(label) - 1], targets[j, : len(label) - 1] = torch.tensor(label[:-1]), torch.tensor(label[1:])
    rows = len(lengths) * n
    inputs, targets = inputs.to(device).repeat(len(lengths), 1), targets.to(device).repeat(len(lengths), 1)
    positions = lengths.repeat_interleave(n)[:, None] + torch.arange(steps, device=device)[None, :]
    attention = torch.cat([mask.repeat_interleave(n, dim=0), (targets != -100).long()], dim=1)
    hidden = causal_lm.model(
        input_ids=inputs, attention_mask=attention, position_ids=positions, cache=cache, use_cache=False
    ).last_hidden_state
    wanted = targets != -100
    picked = head_logits(causal_lm, hidden[wanted]).log_softmax(-1).gather(-1, targets[wanted][:, None])[:, 0]
    owner = torch.arange(rows, device=device)[:, None].expand_as(wanted)[wanted]
    return torch.zeros(rows, device=device).index_add_(0, owner, picked)


def pick_labels(model: Any, prompts: Sequence[list[int]], label_ids: Sequence[list[int]], pad_id: int) -> list[int]:
    """Index of the most likely label after each prompt."""
    scores = label_logprobs(model, prompts, label_ids, pad_id)
    return [max(range(len(label_ids)), key=row.__getitem__) for row in scores]


def label_probabilities(model: Any, prompts: Sequence[list[int]], label_ids: Sequence[list[int]], pad_id: int) -> list[list[float]]:
    """P(label | prompt) normalised over the labels, as Classify reports it."""
    scores = torch.tensor(label_logprobs(model, prompts, label_ids, pad_id))
    return scores.softmax(dim=-1).tolist()


@torch.no_grad()
def greedy_texts(
    model: Any, tokenizer: Any, prompts: Sequence[list[int]], max_new_tokens: int, end_ids: Sequence[int]
) -> tuple[list[str], list[bool]]:
    """Greedy answers, and whether each was cut by `max_new_tokens` rather than ended."""
    texts = [""] * len(prompts)
    cut = [False] * len(prompts)
    device = model_device(model)
    for rows in length_batches(prompts):
        chunk = [prompts[i] for i in rows]
        width = max(len(p) for p in chunk)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=list(end_ids), pad_token_id=pad
        )
        new = out[:, width:]
        ended = torch.isin(new, torch.tensor(list(end_ids), device=new.device)).any(dim=1)
        for i, text, end in zip(rows, tokenizer.batch_decode(new, skip_special_tokens=True), ended.tolist(), strict=True):
            texts[i], cut[i] = text, bool(not end and new.shape[1] >= max_new_tokens)
    return texts, cut


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
) -> tuple[ConditionResult, Answers]:
    prompts = [_prompt(tokenizer, spec, e, demos) for e in holdout]
    truth = [e.output for e in holdout]
    n = len(holdout)
    if spec.kind == "classification":
        label_ids = [completion_ids(tokenizer, spec, label, end_id) for label in spec.labels]
        probabilities = label_probabilities(model, prompts, label_ids, tokenizer.pad_token_id)
        picked = [max(range(len(row)), key=row.__getitem__) for row in probabilities]
        answers = [spec.labels[p] for p in picked]
        correct = [a == t for a, t in zip(answers, truth, strict=True)]
        matrix = confusion_matrix(spec.labels, truth, answers)
        rows = per_label(spec.labels, matrix)
        result = ConditionResult(
            accuracy=sum(correct) / n,
            shots=len(demos),
            macro_f1=macro_f1(rows),
            per_label=rows,
            confusion=[ConfusionRow(counts=row) for row in matrix],
            calibration_error=expected_calibration_error([max(row) for row in probabilities], correct),
        )
        return result, Answers(answers, correct, [False] * n)
    longest = max(len(completion_ids(tokenizer, spec, e.output, end_id)) for e in holdout)
    texts, cut = greedy_texts(model, tokenizer, prompts, longest + 8, [end_id])
    correct = [normalize(t) == normalize(r) for t, r in zip(texts, truth, strict=True)]
    result = ConditionResult(
        exact_match=sum(correct) / n,
        token_f1=sum(token_f1(t, r) for t, r in zip(texts, truth, strict=True)) / n,
        shots=len(demos),
        length_ratio=sum(length_ratio(t, r) for t, r in zip(texts, truth, strict=True)) / n,
        repetition_rate=sum(repetition_rate(t) for t in texts) / n,
        empty=sum(not t.strip() for t in texts) / n,
        truncated=sum(cut) / n,
    )
    return result, Answers(texts, correct, cut)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 1] + "…"


def _tags(text: str, reference: str, truncated: bool) -> list[str]:
    tags = []
    if not text.strip():
        tags.append("empty")
    if truncated:
        tags.append("truncated")
    if length_ratio(text, reference) > VERBOSE_RATIO:
        tags.append("verbose")
    if repetition_rate(text) > REPETITIVE_RATE:
        tags.append("repetitive")
    return tags


def error_examples(
    holdout: Sequence[Example], zero: Answers, icl: Answers, tuned: Answers, generation: bool, per_category: int = MAX_EXAMPLES_PER_CATEGORY
) -> list[ErrorExample]:
    """A bounded sample of the holdout, every system's answer side by side, by what the adapter changed.

    fixed: the adapter is right where k-shot prompting is wrong; broken: the reverse; wrong_all:
    all three wrong; right_all: all three right. Generation answers of the adapter that are empty,
    truncated, verbose or repetitive are kept too, whatever their category."""
    chosen: list[ErrorExample] = []
    taken: dict[str, int] = {}
    for i, example in enumerate(holdout):
        right = (zero.correct[i], icl.correct[i], tuned.correct[i])
        if tuned.correct[i] and not icl.correct[i]:
            category = "fixed"
        elif icl.correct[i] and not tuned.correct[i]:
            category = "broken"
        elif not any(right):
            category = "wrong_all"
        elif all(right):
            category = "right_all"
        else:
            category = "other"
        tags = _tags(tuned.texts[i], example.output, tuned.truncated[i]) if generation else []
        limit = per_category if category != "right_all" else max(1, per_category // 3)
        if taken.get(category, 0) >= limit and not tags:
            continue
        taken[category] = taken.get(category, 0) + 1
        chosen.append(
            ErrorExample(
                line=example.line,
                input=_clip(example.input),
                reference=_clip(example.output),
                zero_shot=_clip(zero.texts[i]),
                icl=_clip(icl.texts[i]),
                adapter=_clip(tuned.texts[i]),
                category=category,
                tags=tags,
            )
        )
        if len(chosen) >= 6 * per_category:
            break
    return chosen


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
        zero, zero_answers = run_condition(model, tokenizer, spec, holdout, (), end_id)
        icl, icl_answers = run_condition(model, tokenizer, spec, holdout, demos, end_id) if demos else (zero, zero_answers)
        base_probe = probe_accuracy(model, tokenizer, probe) if probe else None
    tuned, tuned_answers = run_condition(model, tokenizer, spec, holdout, (), end_id)
    examples = error_examples(holdout, zero_answers, icl_answers, tuned_answers, spec.kind == "generation")
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
        labels=list(spec.labels),
        examples=examples,
    )
