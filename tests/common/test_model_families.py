"""The family table's pure parts: which LoRA modules a family has, what a job's target_modules
names on it, and how a config maps to the served context (no model loaded)."""

from __future__ import annotations

import pytest
from transformers import AutoConfig

from common.errors import InvalidRequest
from common.model_families import ALL_LINEAR, FAMILIES, shape_of
from trainer.config import Hyperparameters


def test_all_linear_is_every_module_of_the_family_in_the_order_of_the_fused_projections():
    assert FAMILIES["llama"].lora_targets([ALL_LINEAR]) == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert FAMILIES["phi3"].lora_targets([ALL_LINEAR]) == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert FAMILIES["phi3"].groups["qkv"] == ("qkv_proj",) and FAMILIES["qwen2"].groups["gate_up"] == ("gate_proj", "up_proj")


def test_named_targets_keep_the_familys_order_and_a_module_it_lacks_is_refused_with_the_ones_it_has():
    assert FAMILIES["mistral"].lora_targets(["v_proj", "q_proj"]) == ["q_proj", "v_proj"]
    with pytest.raises(InvalidRequest) as refused:
        FAMILIES["phi3"].lora_targets(["q_proj", "v_proj"])
    assert refused.value.field == "target_modules"
    assert "['q_proj', 'v_proj']" in str(refused.value) and "qkv_proj, o_proj, gate_up_proj, down_proj" in str(refused.value)
    with pytest.raises(InvalidRequest):
        FAMILIES["llama"].lora_targets(["gate_up_proj"])


def test_a_job_takes_all_linear_by_default_or_module_names_of_any_family_but_nothing_else():
    assert Hyperparameters().target_modules == [ALL_LINEAR]
    assert Hyperparameters(target_modules=["qkv_proj"]).target_modules == ["qkv_proj"]
    for bad in (["lm_head"], [], [ALL_LINEAR, "q_proj"]):
        with pytest.raises(ValueError, match="target_modules"):
            Hyperparameters(target_modules=bad)


def _phi3(**overrides):
    values = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    return AutoConfig.for_model("phi3", **(values | overrides))


def test_longrope_serves_the_whole_context_and_names_where_its_factors_switch():
    longrope = {
        "rope_type": "longrope",
        "rope_theta": 10000.0,
        "short_factor": [1.0] * 8,
        "long_factor": [4.0] * 8,
    }
    long = shape_of(_phi3(rope_parameters=longrope, max_position_embeddings=131072, original_max_position_embeddings=4096))
    assert (long.context, long.long_rope_from) == (131072, 4096)
    plain = shape_of(_phi3(max_position_embeddings=4096))
    assert (plain.context, plain.long_rope_from) == (4096, None)
    assert shape_of(_phi3(max_position_embeddings=8192, sliding_window=2047)).windows == (2047, 2047)
