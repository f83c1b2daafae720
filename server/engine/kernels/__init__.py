"""tuneserve's C++ kernels for the CPU model step, built from their source here with the machine's
compiler at first use and cached by torch.utils.cpp_extension (server.engine.kernels.build); where
they cannot be built, the model step runs aten's.

- qlinear: few-row linear layers on 4- and 8-bit weights with AVX-512 VNNI.
- decode_attention: one-token attention read straight from the paged KV cache.
- lora_add: rows' LoRA deltas read straight from the slot tables (decode rows: 8-bit copies under bf16).

Imports torch and `common` only.
"""
