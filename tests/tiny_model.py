"""A tiny randomly initialised model of each served family, built in a second, for tests about mechanics.

Batching, LoRA routing, the paged cache and the prefix cache behave the same on any decoder, so the
fast tier (`make test-mechanics`) checks them on this model against transformers and PEFT on the
same weights. It says nothing about answers being good: the tests on the real embedded model do.
The tokenizer is a small byte-level BPE trained here on a fixed text, with a ChatML template, so
nothing is read from the embedded model or a hub.
"""

from __future__ import annotations

from itertools import cycle
from pathlib import Path

CORPUS = [
    "What is the capital of France? Paris is the capital of France.",
    "Write a haiku about the sea. The sea is wide and blue, waves come and go.",
    "List three prime numbers: two, three and five are prime numbers.",
    "Who wrote Hamlet? Shakespeare wrote Hamlet, and the play is still performed today.",
    "What is 12 times 7? Twelve times seven is eighty four.",
    "Name a colour of the rainbow: red, orange, yellow, green, blue, indigo and violet.",
    "Summarise this: the sky is blue, the grass is green, the sun is bright.",
    "The review was positive. The review was negative. Label: positive. Label: negative.",
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# The families tuneserve serves (common.model_families), each with the quirks of its config that a
# tiny model must keep. Windows are shorter than the tests' prompts, so that sliding attention is
# exercised: every Mistral layer slides; Gemma 3 interleaves a sliding layer (local rope base) and a
# global one (global base); Phi-3 takes Phi-4 mini's partial rotary and Phi-3.5's LongRoPE (the family
# tier's prompts fit its original window; test_engine_mechanics crosses it).
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text", "phi3")
WINDOW = 24
QUIRKS: dict[str, dict[str, object]] = {
    # Llama 3's rope scaling (low frequencies stretched); its heads are tied, as in Llama 3.2 1B and 3B
    "llama": {
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        }
    },
    "mistral": {"sliding_window": WINDOW},
    "qwen2": {"use_sliding_window": False},
    "qwen3": {"head_dim": 16, "tie_word_embeddings": False},
    "gemma3_text": {
        "head_dim": 16,
        "sliding_window": WINDOW,
        "layer_types": ["sliding_attention", "full_attention"],
        "query_pre_attn_scalar": 32,
        "final_logit_softcapping": 30.0,
        # tied to embeddings scaled by sqrt(hidden), a random head only repeats the last token
        "tie_word_embeddings": False,
    },
    "phi3": {
        "sliding_window": WINDOW,
        "rope_parameters": {
            "rope_type": "longrope",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.75,  # 12 of each head's 16 dimensions rotate
            "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
            "long_factor": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
        },
        "original_max_position_embeddings": 512,
        "tie_word_embeddings": False,
    },
}


def load_tiny(model_dir: Path, **settings: str):
    """The tiny model loaded as the server loads it: in float32 unless `settings` say otherwise."""
    from common.base_model import load_base_model
    from common.settings import ModelSettings
    from common.threads import run_on_fresh_thread

    chosen = ModelSettings(
        model=str(model_dir), cache_dir=model_dir.parent / "cache", **{"dtype": "float32", "quantization": "none", **settings}
    )
    return run_on_fresh_thread(lambda: load_base_model(chosen))


def build_tiny_llama(path: Path, *, seed: int = 0, layers: int = 2) -> Path:
    """A tiny Llama: see `build_tiny_model`."""
    return build_tiny_model(path, "llama", seed=seed, layers=layers)


def build_tiny_model(path: Path, family: str, *, seed: int = 0, layers: int = 2, **config_changes: object) -> Path:
    """Writes a tiny model of `family` (safetensors, config, tokenizer) to `path` and returns it;
    `config_changes` replace entries of the family's quirks.

    Weights are drawn wider than transformers' default so that greedy choices are clear-cut: with
    near-uniform logits, float rounding alone could flip an argmax between two implementations."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)

    quirks = {"tie_word_embeddings": True, **QUIRKS.get(family, {}), **config_changes}
    if "layer_types" in quirks:
        quirks["layer_types"] = [kind for _, kind in zip(range(layers), cycle(quirks["layer_types"]))]  # type: ignore[call-overload]
    config = AutoConfig.for_model(
        family,
        **quirks,
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        initializer_range=0.2,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # transformers starts biases at zero and norms at one; tuneserve must apply them, so make them count
        for name, param in model.named_parameters():
            if name.endswith("proj.bias"):
                param.normal_(0, 0.5)
            elif name.endswith("norm.weight"):
                param.add_(torch.randn_like(param) * 0.3)
    model.save_pretrained(path, safe_serialization=True)
    return path


def build_tiny_image_text_gemma3(path: Path, text_dir: Path) -> Path:
    """Writes to `path` an image-text Gemma 3 (as Gemma 3 4B and up are published: a vision tower
    and projector beside the decoder) whose decoder is the tiny Gemma 3 at `text_dir`, with its
    tokenizer. The vision tower is tiny and random; the decoder's weights are the text model's."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, Gemma3Config, Gemma3ForConditionalGeneration, SiglipVisionConfig

    text = AutoModelForCausalLM.from_pretrained(text_dir, dtype=torch.float32)
    vision = SiglipVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14
    )
    vocab = text.config.vocab_size
    config = Gemma3Config(
        text_config=text.config.to_dict(),
        vision_config=vision.to_dict(),
        mm_tokens_per_image=4,
        boi_token_index=vocab - 3,
        eoi_token_index=vocab - 2,
        image_token_index=vocab - 1,
        tie_word_embeddings=text.config.tie_word_embeddings,
    )
    torch.manual_seed(1)
    model = Gemma3ForConditionalGeneration(config)
    model.model.language_model.load_state_dict(text.model.state_dict())
    with torch.no_grad():
        model.lm_head.weight.copy_(text.lm_head.weight)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    for f in text_dir.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template", "generation_config")):
            shutil.copyfile(f, path / f.name)
    return path
