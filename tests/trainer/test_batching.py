"""Completion-only labels and the batch order."""

import torch

from common.task_spec import TaskSpec, completion_ids, prompt_ids, render_prompt
from trainer.training.batching import IGNORE, collate, epoch_batches, shared_prefix
from trainer.training.data import TokenizedExample


def test_labels_are_ignored_exactly_over_prompt_and_padding_and_the_end_token_is_kept(base_model):
    tok = base_model.tokenizer
    spec = TaskSpec(name="s", kind="classification", labels=["positive", "negative"])
    eos = tok.eos_token_id
    assert tok.pad_token_id == eos, "this tokenizer pads with its end token: labels must not be derived from the pad id"
    examples = [
        TokenizedExample(1, prompt_ids(tok, render_prompt(tok, spec, "A wonderful film.")), completion_ids(tok, spec, "positive", eos)),
        TokenizedExample(2, prompt_ids(tok, render_prompt(tok, spec, "Dull.")), completion_ids(tok, spec, "negative", eos)),
    ]
    batch = collate(examples, tok.pad_token_id)
    for row, example in enumerate(examples):
        p, c = len(example.prompt), len(example.completion)
        assert (batch.labels[row, :p] == IGNORE).all()
        assert batch.labels[row, p : p + c].tolist() == example.completion
        assert batch.labels[row, p + c - 1] == eos
        assert (batch.labels[row, p + c :] == IGNORE).all()
        assert batch.attention_mask[row].sum() == p + c
    assert batch.targets == sum(len(e.completion) for e in examples)
    assert batch.tokens == int(batch.attention_mask.sum()) < batch.input_ids.numel()


def test_epoch_order_is_reproducible_covers_every_example_and_groups_lengths():
    lengths = [(i * 37) % 101 + 1 for i in range(300)]
    first = epoch_batches(lengths, 8, seed=3, epoch=0)
    assert first == epoch_batches(lengths, 8, seed=3, epoch=0)
    assert first != epoch_batches(lengths, 8, seed=3, epoch=1)
    assert sorted(i for b in first for i in b) == list(range(300))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in first)
    random_order = [list(range(i, min(i + 8, 300))) for i in range(0, 300, 8)]
    padded_random = sum(len(b) * max(lengths[i] for i in b) for b in random_order)
    assert padded < 0.8 * padded_random, "similar lengths batch together"
    assert torch.tensor([len(b) for b in first]).max() == 8


def test_the_shared_prefix_is_the_prompts_common_start_short_of_the_shortest_prompts_last_token():
    def example(prompt: list[int], completion: list[int] = [9]) -> TokenizedExample:  # noqa: B006 - never mutated
        return TokenizedExample(1, prompt, completion)

    assert shared_prefix([example([1, 2, 3, 4, 5]), example([1, 2, 3, 7, 8])]) == 3
    # the shortest prompt keeps its last token, whose position predicts its first completion token
    assert shared_prefix([example([1, 2, 3]), example([1, 2, 3, 4, 5])]) == 2
    # completions are never shared, however alike
    assert shared_prefix([example([1, 2], [3, 4]), example([1, 2], [3, 4])]) == 1
    assert shared_prefix([example([1, 2, 3]), example([5, 2, 3])]) == 0
    assert shared_prefix([example([1, 2, 3, 4])]) == 0, "one example has nothing to share"
    assert collate([example([1, 2, 3, 4]), example([1, 2, 5])], pad_id=0).shared == 2
