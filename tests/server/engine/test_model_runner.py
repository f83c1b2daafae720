"""Our paged, flattened forward against the transformers model it runs."""

import torch

from common.threads import run_on_fresh_thread
from server.engine.kernels.build import choose as choose_kernels
from server.engine.kv_cache import PagedKVCache, block_slots
from server.engine.model_runner import ModelRunner, PrefillSpan, StepBatch


def runner_for(base, blocks=32):
    """A runner as the engine builds it: with the kernels that `cpu_kernels=auto` picks here."""
    config = base.config
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers,
        num_blocks=blocks,
        block_size=16,
        kv_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        dtype=base.precision.kv_cache_dtype,
        device=base.device,
    )
    return ModelRunner(base, cache, 2048, choose_kernels("auto", base.device)[0])


def prefill(ids, start, slots):
    n = len(ids)
    stop = start + n
    return StepBatch(
        input_ids=torch.tensor(ids),
        positions=torch.arange(start, stop),
        write_slots=slots[start:stop],
        logits_rows=torch.tensor([n - 1]),
        prefills=[PrefillSpan(0, n, slots[:stop])] if n > 1 else [],
        num_decode=1 if n == 1 else 0,
        decode_kv_slots=slots[:stop][None] if n == 1 else None,
        decode_kv_mask=torch.ones(1, 1, 1, stop, dtype=torch.bool) if n == 1 else None,
    )


def chat_ids(base, question):
    text = base.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    return base.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_logits_match_transformers(base_model):
    def check():
        ids = chat_ids(base_model, "Name three rivers in Europe.")
        runner = runner_for(base_model)
        slots = block_slots(list(range(8)), 16, base_model.device)
        ours = runner.forward(prefill(ids, 0, slots))[0]
        with torch.inference_mode():
            theirs = base_model.model(torch.tensor([ids])).logits[0, -1].float()
        return (ours - theirs).abs().max().item()

    assert run_on_fresh_thread(check) < 1e-3


def test_chunked_prefill_and_decode_follow_transformers_greedy_tokens(base_model):
    def check():
        ids = chat_ids(base_model, "Write one sentence about the moon.")
        runner = runner_for(base_model)
        slots = block_slots(list(range(16)), 16, base_model.device)
        cut = len(ids) // 2
        runner.forward(prefill(ids[:cut], 0, slots))  # first chunk: no sampling needed
        token = int(runner.forward(prefill(ids[cut:], cut, slots))[0].argmax())
        ours = [token]
        for pos in range(len(ids), len(ids) + 15):
            token = int(runner.forward(prefill([token], pos, slots))[0].argmax())
            ours.append(token)
        with torch.inference_mode():
            out = base_model.model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False)
        return ours, out[0, len(ids) :].tolist()

    ours, theirs = run_on_fresh_thread(check)
    end = next((i + 1 for i, t in enumerate(theirs) if t in base_model.eos_token_ids), len(theirs))
    assert ours[:end] == theirs[:end]
