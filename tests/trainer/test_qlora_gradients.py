"""QLoRA's gradients do not change when a validation pass runs between training steps.
Mechanics, on a tiny random Llama in nf4: what is checked is the gradient path, not the model."""

from __future__ import annotations

import torch

from tests.tiny_model import load_tiny
from trainer.config import Hyperparameters
from trainer.training.loop import build_lora_model


def lora_gradients(model, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    model.train()
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def test_a_validation_pass_leaves_qlora_gradients_as_they_were(tiny_llama_dir):
    model = build_lora_model(
        load_tiny(tiny_llama_dir, quantization="nf4"), Hyperparameters(qlora=True, rank=4, dropout=0.0)
    )  # no dropout: two passes alike
    torch.manual_seed(0)
    for p in model.parameters():
        if p.requires_grad:  # LoRA's B starts at zero: give every adapter layer a gradient path of its own
            torch.nn.init.normal_(p, std=0.02)
    ids = torch.randint(0, 100, (2, 12))
    before = lora_gradients(model, ids)
    model.eval()
    with torch.no_grad():  # as the trainer's validation loss runs
        model(input_ids=ids)
    after = lora_gradients(model, ids)
    assert before.keys() == after.keys() and any("layers.0." in name for name in before)
    for name in before:
        assert torch.allclose(before[name], after[name]), f"{name}: {before[name].norm():.4g} before, {after[name].norm():.4g} after"
