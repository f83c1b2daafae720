"""The model families tuneserve serves, and the one frozen shape each config maps onto.

Every served family is a decoder of the same plan: embed, then per layer a normed attention (fused
q/k/v, rotary, grouped-query attention over the cache) and a normed gated MLP, each added back to
the residual, then a final norm and the head. Families differ only in details of that plan, and
each is one `Family` entry below saying which: where the norms sit, whether q and k are normed per
head, whether norm weights are stored as offsets from one, which config field names the
activation and the attention scale, which layers attend within a sliding window, and which
modules each fused projection joins (Phi-3 stores q/k/v and gate/up fused already). `shape_of`
reads a transformers config once, at load, into a `ModelShape` that the engine's model step
(server.engine.decoder_layer) runs everywhere; nothing else derives head sizes or windows.

Adding a family is an entry here, a tiny-model case in tests/tiny_model.py, and its row in
docs/architecture.md. A config asking for something the plan has no place for (attention logits
soft-capped, bidirectional attention) is refused with what it asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import FailedPrecondition, InvalidRequest

# Per fused projection of the model step (server.engine.weights), the LoRA-targetable linear layers
# it joins, in the order of their outputs; adapters address these modules by name, so the LoRA
# tables follow them too (server.adapters.lora). Phi-3 stores q/k/v and gate/up already fused.
Projections = tuple[tuple[str, tuple[str, ...]], ...]
SEPARATE: Projections = (
    ("qkv", ("q_proj", "k_proj", "v_proj")),
    ("o", ("o_proj",)),
    ("gate_up", ("gate_proj", "up_proj")),
    ("down", ("down_proj",)),
)
FUSED: Projections = (("qkv", ("qkv_proj",)), ("o", ("o_proj",)), ("gate_up", ("gate_up_proj",)), ("down", ("down_proj",)))
# The decoder layer's block holding each projection's modules
BLOCKS = {"qkv": "self_attn", "o": "self_attn", "gate_up": "mlp", "down": "mlp"}
# Every LoRA-targetable module name of any served family, with its block: what an adapter may name
LORA_BLOCKS: dict[str, str] = {module: BLOCKS[group] for plan in (SEPARATE, FUSED) for group, modules in plan for module in modules}
# PEFT's word for "every linear layer but the head", which the trainer takes as its default
ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class Family:
    """How one transformers model type fills in the shared decoder plan."""

    model_type: str
    label: str  # the family's name in messages and docs
    mlp_norm: str = "post_attention_layernorm"  # the layer's module that norms the MLP's input
    attention_out_norm: str | None = None  # norms attention's output before the residual (Gemma)
    mlp_out_norm: str | None = None  # norms the MLP's output before the residual (Gemma)
    qk_norm: bool = False  # q and k normed per head before the rotary (Qwen3, Gemma 3)
    norm_offset: float = 0.0  # norms multiply by (offset + weight): Gemma stores weights less one
    activation_field: str = "hidden_act"
    scale_field: str | None = None  # attention scales by this field ** -0.5 instead of head_dim's
    biased_qkv: bool = False  # q, k and v carry biases (Qwen2)
    projections: Projections = SEPARATE  # the LoRA-targetable modules of each fused projection
    # config keys that shape this family beyond the common ones (common.base_model's fingerprint)
    architecture_keys: tuple[str, ...] = ()

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Fused projection -> the modules it joins, in output order."""
        return dict(self.projections)

    @property
    def lora_modules(self) -> tuple[str, ...]:
        """The LoRA-targetable linear layers of one decoder layer."""
        return tuple(module for _, modules in self.projections for module in modules)

    def lora_targets(self, requested: Sequence[str], field: str = "target_modules") -> list[str]:
        """The modules a job's `target_modules` names on this family ("all-linear": every one);
        a name this family does not have is refused (as `field`) with the names it has."""
        if list(requested) == [ALL_LINEAR]:
            return list(self.lora_modules)
        missing = [m for m in requested if m not in self.lora_modules]
        if missing:
            raise InvalidRequest(
                field,
                f"{self.label} has no layers named {missing}; its LoRA-targetable layers are {', '.join(self.lora_modules)} "
                f"(or {ALL_LINEAR!r})",
            )
        return [m for m in self.lora_modules if m in requested]


FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        Family("llama", "Llama"),
        Family("mistral", "Mistral", architecture_keys=("sliding_window",)),
        Family("qwen2", "Qwen2", biased_qkv=True),
        Family("qwen3", "Qwen3", qk_norm=True, architecture_keys=("layer_types", "sliding_window")),
        Family(
            "gemma3_text",
            "Gemma 3",
            mlp_norm="pre_feedforward_layernorm",
            attention_out_norm="post_attention_layernorm",
            mlp_out_norm="post_feedforward_layernorm",
            qk_norm=True,
            norm_offset=1.0,
            activation_field="hidden_activation",
            scale_field="query_pre_attn_scalar",
            architecture_keys=("layer_types", "sliding_window", "query_pre_attn_scalar", "hidden_activation", "final_logit_softcapping"),
        ),
        Family("phi3", "Phi-3", projections=FUSED, architecture_keys=("sliding_window", "rope_parameters")),
    )
}


@dataclass(frozen=True)
class ModelShape:
    """What the model step needs to know of a loaded decoder, derived once from its config."""

    family: Family
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float  # the norms' epsilon
    scale: float  # attention's softmax scale
    activation: str  # the MLP's gate activation, a name in transformers' ACT2FN
    windows: tuple[int | None, ...]  # per layer: how many latest positions a query sees (None: all)
    rope_kinds: tuple[str, ...]  # per layer: which rotary table it takes ("default", or a layer type)
    context: int  # the longest sequence served (positions 0 .. context - 1)
    final_softcap: float | None = None  # logits become cap * tanh(logits / cap)
    # LongRoPE's original window (Phi-3.5, Phi-4 mini): positions past it rotate by the long
    # factors, and so does every position of a prompt longer than it (None: one rotation)
    long_rope_from: int | None = None

    @property
    def qkv_width(self) -> int:
        """Rows of the fused q/k/v projection's output per token, in heads."""
        return self.heads + 2 * self.kv_heads


def soft_capped(logits: Any, cap: float | None) -> Any:
    """Logits (a tensor) after a final soft-cap, cap * tanh(logits / cap), where the model has one
    (`ModelShape.final_softcap`); as they are where it has none."""
    return logits if cap is None else (logits / cap).tanh() * cap


def served_families() -> str:
    """The served families, as refusals name them."""
    return ", ".join(f"{f.label} ({f.model_type})" for f in FAMILIES.values())


def family_of(config: Any) -> Family:
    """The served family of a transformers config, or a refusal naming the served ones."""
    family = FAMILIES.get(config.model_type)
    if family is None:
        raise FailedPrecondition(f"model type {config.model_type!r} is not supported; tuneserve serves {served_families()}")
    return family


def _windows(config: Any) -> tuple[int | None, ...]:
    """Per layer, the sliding window it attends within (transformers' own rule: a query at position
    p sees keys after p - window), or None for full attention."""
    layers = int(config.num_hidden_layers)
    window = getattr(config, "sliding_window", None)
    if not window or getattr(config, "use_sliding_window", True) is False:
        return (None,) * layers
    layer_types = getattr(config, "layer_types", None)
    if layer_types is None:  # Mistral: every layer slides
        return (int(window),) * layers
    return tuple(int(window) if kind == "sliding_attention" else None for kind in layer_types)


def _rope_kinds(config: Any) -> tuple[str, ...]:
    """Per layer, which rotary table: one for all, or one per layer type where the config gives
    each type its own rope parameters (Gemma 3's local and global bases)."""
    layer_types = getattr(config, "layer_types", None)
    rope = getattr(config, "rope_parameters", None) or {}
    if layer_types is not None and all(kind in rope for kind in layer_types):
        return tuple(layer_types)
    return ("default",) * int(config.num_hidden_layers)


def _long_rope_from(config: Any) -> int | None:
    """LongRoPE's original window. transformers rotates a forward pass by the short factors while
    its last position is inside the window and by the long ones past it, so with a cache a prompt
    that fits and the tokens decoded inside the window keep the short rotation, later tokens take
    the long one, and a prompt longer than the window is rotated long throughout."""
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type") != "longrope":
        return None
    window = rope.get("original_max_position_embeddings") or getattr(config, "original_max_position_embeddings", None)
    return int(window) if window else None


def shape_of(config: Any) -> ModelShape:
    """The frozen shape of a served family's config; a config the plan cannot run is refused."""
    family = family_of(config)
    if getattr(config, "attn_logit_softcapping", None):
        raise FailedPrecondition(f"{family.label} with attention logits soft-capped (attn_logit_softcapping) is not served")
    if getattr(config, "use_bidirectional_attention", False):
        raise FailedPrecondition(f"{family.label} with bidirectional attention is an encoder; tuneserve serves decoders")
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    scale_base = getattr(config, family.scale_field) if family.scale_field else head_dim
    softcap = getattr(config, "final_logit_softcapping", None)
    return ModelShape(
        family=family,
        layers=int(config.num_hidden_layers),
        hidden=int(config.hidden_size),
        heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        head_dim=head_dim,
        eps=float(config.rms_norm_eps),
        scale=float(scale_base) ** -0.5,
        activation=str(getattr(config, family.activation_field)),
        windows=_windows(config),
        rope_kinds=_rope_kinds(config),
        context=int(config.max_position_embeddings),
        final_softcap=float(softcap) if softcap else None,
        long_rope_from=_long_rope_from(config),
    )
