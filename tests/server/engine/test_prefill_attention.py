"""Prompt chunks attending in one padded call against attending one by one."""

import pytest
import torch

from common.threads import run_on_fresh_thread
from server.engine.kv_cache import block_slots, gather_kv
from server.engine.model_runner import PrefillSpan, StepBatch, attend_prefill, within
from server.engine.prefill_attention import attend_prefills, fits, prefill_layout
from tests.server.engine.test_model_runner import chat_ids, runner_for


def test_padded_spans_attend_as_each_span_alone():
    # mechanics only: random queries and cache; spans fresh (context == length) and continuing
    # (a cached prefix before the queries), grouped-query heads (9 over 3) as in SmolLM2
    torch.manual_seed(0)
    heads, kv_heads, head_dim = 9, 3, 16
    kv = torch.randn(200, 2 * kv_heads, head_dim)
    kv[150:] = float("nan")  # never read: padding reads slot 0
    spans = [(5, torch.arange(0, 5)), (3, torch.arange(10, 30)), (1, torch.tensor([40, 41])), (7, torch.arange(60, 67))]
    lengths, contexts = [n for n, _ in spans], [s for _, s in spans]
    q = torch.randn(sum(lengths), heads, head_dim)
    together = attend_prefills(q, kv, prefill_layout(lengths, contexts, q.device), 0.25)
    alone, start = [], 0
    for n, slots in spans:
        k, v = gather_kv(kv, slots)
        alone.append(attend_prefill(q[start : start + n], k, v, 0.25))
        start += n
    torch.testing.assert_close(together, torch.cat(alone), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window", [4, 16])
@pytest.mark.parametrize("read", ["whole", "within"])
def test_padded_spans_attend_within_a_sliding_window_as_each_span_alone(window, read):
    # a sliding layer's layout (Mistral, Gemma 3): each query sees only keys after its position -
    # window; laid out over each whole context, or over the part of it the window reaches (the runner's)
    torch.manual_seed(0)
    heads, kv_heads, head_dim = 4, 1, 16
    kv = torch.randn(200, 2 * kv_heads, head_dim)
    spans = [(5, torch.arange(0, 5)), (3, torch.arange(10, 30)), (7, torch.arange(60, 90))]
    lengths, contexts = [n for n, _ in spans], [s for _, s in spans]
    q = torch.randn(sum(lengths), heads, head_dim)
    laid = contexts if read == "whole" else [within(s, n, window) for n, s in spans]
    assert read == "whole" or len(laid[-1]) < len(contexts[-1]), "the window leaves out part of the longest context"
    layout = prefill_layout(lengths, laid, q.device).within(window)
    together = attend_prefills(q, kv, layout, 0.25)
    alone, start = [], 0
    for n, slots in spans:
        k, v = gather_kv(kv, slots)
        alone.append(attend_prefill(q[start : start + n], k, v, 0.25, window))
        start += n
    torch.testing.assert_close(together, torch.cat(alone), rtol=1e-5, atol=1e-5)
    whole = attend_prefills(q, kv, prefill_layout(lengths, contexts, q.device), 0.25)
    assert not torch.allclose(together[-7:], whole[-7:]), "the window cut the longest context"


def test_padding_is_bounded():
    assert fits([40] * 32, [80] * 32)
    assert not fits([1024] * 32, [8192] * 32)


def test_runner_steps_the_same_batched_or_span_by_span(base_model):
    # one step holding a decode row, a fresh prompt and a prompt continuing after its cached prefix
    def logits(batched):
        runner = runner_for(base_model, blocks=48)
        runner.batched_prefill = batched
        a, b = chat_ids(base_model, "Name a river."), chat_ids(base_model, "Why is the sky blue?")
        slots_a, slots_b = block_slots(list(range(0, 8)), 16, base_model.device), block_slots(list(range(8, 16)), 16, base_model.device)
        slots_c = block_slots(list(range(16, 24)), 16, base_model.device)
        cut = len(b) // 2
        first = StepBatch(
            input_ids=torch.tensor(a[:-1] + b[:cut]),
            positions=torch.cat([torch.arange(len(a) - 1), torch.arange(cut)]),
            write_slots=torch.cat([slots_a[: len(a) - 1], slots_b[:cut]]),
            logits_rows=torch.tensor([len(a) - 2]),
            prefills=[PrefillSpan(0, len(a) - 1, slots_a[: len(a) - 1]), PrefillSpan(len(a) - 1, cut, slots_b[:cut])],
        )
        runner.forward(first)
        c = a[: len(a) - 3]
        second = StepBatch(
            input_ids=torch.tensor([a[-1]] + b[cut:] + c),
            positions=torch.cat([torch.tensor([len(a) - 1]), torch.arange(cut, len(b)), torch.arange(len(c))]),
            write_slots=torch.cat([slots_a[len(a) - 1 : len(a)], slots_b[cut : len(b)], slots_c[: len(c)]]),
            logits_rows=torch.tensor([0, len(b) - cut, len(b) - cut + len(c)]),
            num_decode=1,
            decode_kv_slots=slots_a[: len(a)][None],
            prefills=[PrefillSpan(1, len(b) - cut, slots_b[: len(b)]), PrefillSpan(1 + len(b) - cut, len(c), slots_c[: len(c)])],
        )
        return runner.forward(second)

    batched, alone = run_on_fresh_thread(lambda: (logits(True), logits(False)))
    torch.testing.assert_close(batched, alone, rtol=1e-3, atol=1e-3)
    assert batched.shape[0] == 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_padded_spans_on_cuda_match_span_by_span():
    torch.manual_seed(0)
    heads, kv_heads, head_dim = 32, 8, 64
    kv = torch.randn(400, 2 * kv_heads, head_dim, device="cuda", dtype=torch.bfloat16)
    spans = [(37, torch.arange(0, 37)), (12, torch.arange(50, 90)), (30, torch.arange(100, 130))]
    lengths, contexts = [n for n, _ in spans], [s.cuda() for _, s in spans]
    q = torch.randn(sum(lengths), heads, head_dim, device="cuda", dtype=torch.bfloat16)
    together = attend_prefills(q, kv, prefill_layout(lengths, contexts, q.device), 0.125)
    alone, start = [], 0
    for (n, _), slots in zip(spans, contexts, strict=True):
        k, v = gather_kv(kv, slots)
        alone.append(attend_prefill(q[start : start + n], k, v, 0.125))
        start += n
    torch.testing.assert_close(together, torch.cat(alone), rtol=2e-2, atol=2e-2)
