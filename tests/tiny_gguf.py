"""A tiny GGUF file in the layout of a real one, for tests of what tuneserve does with GGUF files.

Most of transformers' conversion of the embedded 135M GGUF is parsing its metadata (a 49152-word
vocabulary and its merges, read several times over) and mapping its 30 layers' tensor names, and
what the conversion cache promises (converted once, reused, nothing half written left behind)
holds for any GGUF. This file keeps the real one's metadata, chat template and each tensor's
quantization type, with the first 1024 words of its tokenizer and two layers of width 64 of random
weights, so the same conversion runs through transformers' GGUF reader in a second or two.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# llama.* hyperparameters of the tiny model
TINY_SHAPE = {
    "block_count": 2,
    "embedding_length": 64,
    "feed_forward_length": 128,
    "attention.head_count": 4,
    "attention.head_count_kv": 2,
    "rope.dimension_count": 16,
}
# the source's first words, the special ones among them; its other merges are dropped with them
VOCABULARY = 1024


def first_words(reader, count: int) -> dict[str, list]:
    """The tokenizer fields of a byte-level BPE cut to its first `count` words: the merges kept are
    those of two kept words into a kept word, so the smaller vocabulary is a whole BPE of its own."""
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()[:count]
    kept = set(tokens)
    pairs = (merge.split(" ", 1) for merge in reader.fields["tokenizer.ggml.merges"].contents())
    merges = [f"{a} {b}" for a, b in pairs if {a, b, a + b} <= kept]
    return {
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": reader.fields["tokenizer.ggml.token_type"].contents()[:count],
        "tokenizer.ggml.merges": merges,
        f"{reader.fields['general.architecture'].contents()}.vocab_size": count,
    }


def write_tiny_gguf(source: Path, target: Path, seed: int = 0) -> Path:
    """A two-layer copy of the Llama-architecture GGUF `source` at `target` (random weights)."""
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, quants

    reader = GGUFReader(source)
    arch = reader.fields["general.architecture"].contents()
    if arch != "llama":
        raise ValueError(f"{source} is a {arch!r} model; the tiny copy keeps Llama's tensor layout only")
    writer = GGUFWriter(target, arch=arch)
    vocabulary = first_words(reader, VOCABULARY)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue  # the writer writes these itself
        name = key.removeprefix(f"{arch}.")
        value = vocabulary.get(key, TINY_SHAPE.get(name, field.contents()))
        sub_type = field.types[1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub_type)

    types = {tensor.name: tensor.tensor_type for tensor in reader.tensors}
    hidden, ff = TINY_SHAPE["embedding_length"], TINY_SHAPE["feed_forward_length"]
    head_dim = hidden // TINY_SHAPE["attention.head_count"]
    kv = TINY_SHAPE["attention.head_count_kv"] * head_dim
    vocab = len(vocabulary["tokenizer.ggml.tokens"])
    shapes = {"token_embd.weight": (vocab, hidden), "output_norm.weight": (hidden,)}
    for i in range(TINY_SHAPE["block_count"]):
        layer = {
            "attn_norm": (hidden,),
            "ffn_norm": (hidden,),
            "attn_q": (hidden, hidden),
            "attn_k": (kv, hidden),
            "attn_v": (kv, hidden),
            "attn_output": (hidden, hidden),
            "ffn_gate": (ff, hidden),
            "ffn_up": (ff, hidden),
            "ffn_down": (hidden, ff),
        }
        shapes.update({f"blk.{i}.{part}.weight": shape for part, shape in layer.items()})

    rng = np.random.default_rng(seed)
    for name, shape in shapes.items():
        weights = (np.ones(shape) if len(shape) == 1 else rng.normal(0, 0.02, shape)).astype(np.float32)
        qtype = types[re.sub(r"^blk\.\d+\.", "blk.0.", name)]  # each layer quantized as the source's first
        if qtype == GGMLQuantizationType.F32:
            writer.add_tensor(name, weights)
        else:
            writer.add_tensor(name, quants.quantize(weights, qtype), raw_dtype=qtype)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
