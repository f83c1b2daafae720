"""Sampling against transformers' own logits processors on the same logits."""

import pytest
import torch
from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor, TopKLogitsWarper, TopPLogitsWarper

from server.engine.sampling import RowState, SamplingParams, make_generator, sample_next_tokens, top_k_top_p_filter

END = frozenset({0})


def row(**params) -> RowState:
    p = SamplingParams(max_new_tokens=10, **params)
    return RowState(p, None if p.greedy else make_generator(p.seed, torch.device("cpu")), [], 0)


@pytest.mark.parametrize("top_k", [1, 3, 10])
def test_top_k_keeps_what_transformers_keeps(top_k):
    logits = torch.randn(2, 50, generator=torch.Generator().manual_seed(top_k))
    ours = top_k_top_p_filter(logits, torch.tensor([top_k, top_k]), torch.tensor([1.0, 1.0]))
    theirs = TopKLogitsWarper(top_k)(None, logits.clone())
    assert torch.equal(ours.isfinite(), theirs.isfinite())


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 1.0])
def test_top_p_keeps_what_transformers_keeps(top_p):
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(int(top_p * 10)))
    ours = top_k_top_p_filter(logits, torch.zeros(3, dtype=torch.long), torch.full((3,), top_p))
    theirs = TopPLogitsWarper(top_p)(None, logits.clone())
    assert torch.equal(ours.isfinite(), theirs.isfinite())


def test_rows_keep_their_own_settings():
    logits = torch.randn(2, 20, generator=torch.Generator().manual_seed(0))
    out = top_k_top_p_filter(logits, torch.tensor([2, 0]), torch.tensor([1.0, 1.0]))
    assert out[0].isfinite().sum() == 2 and out[1].isfinite().all()


def test_repetition_penalty_matches_transformers():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    seen = [1, 3, 3]
    expected = RepetitionPenaltyLogitsProcessor(1.3)(torch.tensor([seen]), logits.clone())
    state = row(repetition_penalty=1.3)
    state.token_ids.extend(seen)
    ours = logits.clone()
    sample_next_tokens(ours, [state], END)
    assert torch.allclose(ours, expected)


def test_frequency_and_presence_penalties_follow_openais_formula_on_the_output_alone():
    # OpenAI's: logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty, where
    # count[j] is how often token j was generated (the prompt is not counted)
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0, 1.0]])
    prompt, output = [2, 2, 5], [1, 3, 3]
    expected = logits.clone()
    for token in set(output):
        expected[0, token] -= output.count(token) * 0.5 + 0.25
    state = row(frequency_penalty=0.5, presence_penalty=0.25)
    state.token_ids.extend(prompt + output)
    state.generated = len(output)
    ours = logits.clone()
    sample_next_tokens(ours, [state], END)
    assert torch.allclose(ours, expected)
    assert ours[0, 2] == logits[0, 2] and ours[0, 5] == logits[0, 5], "prompt tokens are not penalised"
    encouraging = row(frequency_penalty=-2.0)  # negative values make repeats likelier, as OpenAI allows
    encouraging.token_ids.extend([4, 4])
    encouraging.generated = 2
    assert sample_next_tokens(logits.clone(), [encouraging], END) == [3]
    encouraging.token_ids.extend([4])
    encouraging.generated = 3
    assert sample_next_tokens(logits.clone(), [encouraging], END) == [4]  # -2 + 3 * 2 = 4 > 3


def test_logit_bias_bans_and_forces_tokens_per_row():
    logits = torch.tensor([[0.0, 5.0, 1.0], [9.0, 0.0, 1.0], [9.0, 0.0, 1.0]])
    rows = [row(logit_bias=((1, -100.0),)), row(logit_bias=((1, 10.0), (2, 100.0))), row()]
    assert sample_next_tokens(logits.clone(), rows, frozenset()) == [2, 2, 0]
    sampled = row(temperature=1.0, seed=3, logit_bias=((0, -100.0), (1, -100.0)))
    assert {sample_next_tokens(logits[:1].clone(), [sampled], frozenset())[0] for _ in range(20)} == {2}


def test_greedy_takes_the_argmax_per_row():
    logits = torch.tensor([[0.0, 5.0, 1.0], [9.0, 0.0, 1.0]])
    assert sample_next_tokens(logits, [row(), row()], frozenset()) == [1, 0]


def test_min_new_tokens_suppresses_end_tokens():
    logits = torch.tensor([[9.0, 1.0, 0.0]])
    assert sample_next_tokens(logits.clone(), [row(min_new_tokens=2)], END) == [1]
    done = row(min_new_tokens=2)
    done.generated = 2
    assert sample_next_tokens(logits.clone(), [done], END) == [0]


def test_min_new_tokens_holds_back_a_rows_own_stop_tokens_too():
    logits = torch.tensor([[1.0, 9.0, 0.0], [1.0, 9.0, 0.0]])
    own = row(min_new_tokens=2, stop_token_ids=frozenset({1}))
    assert sample_next_tokens(logits.clone(), [own, row()], frozenset()) == [0, 1], "only the row that asked"
    own.generated = 2
    assert sample_next_tokens(logits[:1].clone(), [own], frozenset()) == [1]


def test_a_seed_makes_sampling_reproducible_and_independent_of_neighbours():
    logits = torch.randn(1, 100, generator=torch.Generator().manual_seed(1))
    first = row(temperature=1.0, seed=7)
    draws_alone = [sample_next_tokens(logits.clone(), [first], END)[0] for _ in range(20)]
    second, noise = row(temperature=1.0, seed=7), row(temperature=1.0, seed=99)
    draws_batched = [sample_next_tokens(logits.repeat(2, 1), [noise, second], END)[1] for _ in range(20)]
    assert draws_alone == draws_batched
    assert len(set(draws_alone)) > 1, "temperature 1 over 100 tokens should not always pick one"


def test_top_k_one_is_greedy_even_when_sampling():
    logits = torch.randn(1, 100, generator=torch.Generator().manual_seed(3))
    picks = {sample_next_tokens(logits.clone(), [row(temperature=1.5, top_k=1, seed=s)], END)[0] for s in range(10)}
    assert picks == {int(logits.argmax())}


@pytest.mark.parametrize("temperature", [1.1754943508222875e-38, 1e-45, 1e-30])
def test_a_vanishing_temperature_samples_the_argmax_instead_of_failing(temperature):
    logits = torch.randn(2, 100, generator=torch.Generator().manual_seed(4)) * 30
    rows = [row(temperature=temperature, seed=s) for s in (1, 2)]
    assert sample_next_tokens(logits.clone(), rows, END) == logits.argmax(dim=-1).tolist()


def test_a_vanishing_repetition_penalty_samples_instead_of_failing():
    """A penalty of 1e-40 (inside the allowed (0, 10]) pushes a seen logit past the largest float."""
    logits = torch.randn(2, 100, generator=torch.Generator().manual_seed(5))
    logits[0, 7] = 1.0
    penalised, neighbour = row(temperature=0.8, seed=1, repetition_penalty=1e-40), row(temperature=0.8, seed=2)
    penalised.token_ids.extend([3, 7, 9])
    alone = sample_next_tokens(logits[1:].clone(), [row(temperature=0.8, seed=2)], END)
    tokens = sample_next_tokens(logits.clone(), [penalised, neighbour], END)
    assert tokens[0] == 7, "a seen token with a positive logit dominates under such a penalty"
    assert tokens[1] == alone[0]


def test_a_row_with_non_finite_logits_is_set_aside_and_the_others_are_unaffected():
    logits = torch.randn(4, 60, generator=torch.Generator().manual_seed(6))
    alone = [sample_next_tokens(logits[i : i + 1].clone(), [r], END)[0] for i, r in enumerate([row(), row(temperature=1.0, seed=3)])]
    broken = logits.clone()
    broken = torch.cat([broken[:2], torch.full((2, 60), float("nan"))])
    broken[3, :5] = float("inf")
    rows = [row(), row(temperature=1.0, seed=3), row(temperature=1.0, seed=4), row()]
    assert sample_next_tokens(broken, rows, END) == [alone[0], alone[1], None, None]
