"""A tiny randomly initialised Llama, built in a second, for tests about mechanics.

Batching, LoRA routing, the paged cache and the prefix cache behave the same on any decoder, so the
fast tier (`make test-mechanics`) checks them on this model against transformers and PEFT on the
same weights. It says nothing about answers being good: the tests on the real embedded model do.
The tokenizer is a small byte-level BPE trained here on a fixed text, with a ChatML template, so
nothing is read from the embedded model or a hub.
"""

from __future__ import annotations

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


# The families tuneserve serves, each with the quirk of its config that a tiny model must keep:
# Mistral's sliding window (tuneserve serves within it: the context window is capped there) and Qwen2's biased q/k/v.
FAMILIES = ("llama", "mistral", "qwen2")


def build_tiny_llama(path: Path, *, seed: int = 0, layers: int = 2) -> Path:
    """A tiny Llama: see `build_tiny_model`."""
    return build_tiny_model(path, "llama", seed=seed, layers=layers)


def build_tiny_model(path: Path, family: str, *, seed: int = 0, layers: int = 2) -> Path:
    """Writes a tiny model of `family` (safetensors, config, tokenizer) to `path` and returns it.

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

    quirks: dict[str, object] = {"mistral": {"sliding_window": 160}, "qwen2": {"use_sliding_window": False}}.get(family, {})
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
        tie_word_embeddings=True,
        initializer_range=0.2,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    if family == "qwen2":  # transformers starts biases at zero; tuneserve must add them, so make them count
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("proj.bias"):
                    param.normal_(0, 0.5)
    model.save_pretrained(path, safe_serialization=True)
    return path
