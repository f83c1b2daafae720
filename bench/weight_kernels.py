"""The kernels behind the automatic precision (common.precision), measured on this machine.

Each linear layer of the embedded model's shapes, at 1, 2, 4, 8, 16 and 32 rows, with its weights
streamed from memory as in a real decode step (many distinct matrices, more than the caches hold):
float32, bfloat16, aten's int8 weight-only kernel (per-row scales), aten's int4 kernel (groups
of 32) and, where it builds, tuneserve's VNNI kernel with 4- and 8-bit weights (vnni4, vnni8:
server/engine/kernels/qlinear.cpp). Then the decode attention over a 200-token context at 1, 8
and 32 rows in float32 and bfloat16. Prints microseconds per call and each format's speed relative to bfloat16; the rows
where each format stops winning set server.engine.weights.MAX_ROWS.

    python bench/weight_kernels.py [--rows 1,2,4,8,16,32]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GOMP_SPINCOUNT", "10000000")  # as the server runs (server/cli.py)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.precision import cpu_has_native_bf16  # noqa: E402
from server.engine.kernels import qlinear  # noqa: E402
from server.engine.weights import INT4_GROUP, pack_int4, pack_int8  # noqa: E402

# (name, out, in) of SmolLM2-135M's projections, fused as the engine runs them, and its head
SHAPES = [("qkv", 960, 576), ("o", 576, 576), ("gate_up", 3072, 576), ("down", 576, 1536), ("lm_head", 49152, 576)]
STREAMED_BYTES = 512 * 2**20  # distinct weights per measurement: more than any cache


def timed(calls: list[Callable[[], torch.Tensor]]) -> float:
    """Microseconds per call, each call on different weights."""
    for call in calls[: min(len(calls), 8)]:
        call()
    started = time.perf_counter()
    for call in calls:
        call()
    return (time.perf_counter() - started) / len(calls) * 1e6


def linear_formats(out: int, in_features: int, rows: int) -> dict[str, float]:
    copies = max(4, min(200, STREAMED_BYTES // (out * in_features * 4)))
    weights = [torch.randn(out, in_features) * 0.02 for _ in range(copies)]
    results = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        x = torch.randn(rows, in_features, dtype=dtype)
        cast = [w.to(dtype) for w in weights]
        results[name] = timed([lambda w=w, x=x: F.linear(x, w) for w in cast])
    x = torch.randn(rows, in_features, dtype=torch.bfloat16)
    int8 = [pack_int8(w, torch.bfloat16) for w in weights]
    results["int8"] = timed([lambda q=q, s=s: torch._weight_int8pack_mm(x, q, s) for q, s in int8])
    if in_features % INT4_GROUP == 0:
        int4 = [pack_int4(w, torch.bfloat16) for w in weights]
        results["int4"] = timed([lambda p=p, sz=sz: torch._weight_int4pack_mm_for_cpu(x, p, INT4_GROUP, sz) for p, sz in int4])
    if qlinear.unavailable_reason() is None:
        for bits in (4, 8):
            packed = [qlinear.pack(w, bits) for w in weights]
            results[f"vnni{bits}"] = timed([lambda p=p, b=bits: qlinear.qlinear(x, p, b, out) for p in packed])
    return results


def attention(rows: int, dtype: torch.dtype, context: int = 200, heads: int = 9, kv_heads: int = 3, head_dim: int = 64) -> float:
    q = torch.randn(rows, heads, 1, head_dim, dtype=dtype)
    k = torch.randn(rows, kv_heads, context, head_dim, dtype=dtype)
    v = torch.randn(rows, kv_heads, context, head_dim, dtype=dtype)
    mask = torch.ones(rows, 1, 1, context, dtype=torch.bool)
    return timed([lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=head_dim**-0.5, enable_gqa=True)] * 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1,2,4,8,12,16,24,32")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    rows_list = [int(r) for r in args.rows.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, native bf16: {cpu_has_native_bf16()}, torch {torch.__version__}")
    print(f"VNNI kernel: {qlinear.unavailable_reason() or 'built'}")
    print("linear layers, weights streamed; us per call (speed relative to bfloat16):")
    for name, out, in_features in SHAPES:
        for rows in rows_list:
            results = linear_formats(out, in_features, rows)
            bf16 = results["bfloat16"]
            cells = "  ".join(f"{fmt} {us:8.1f} ({bf16 / us:4.2f}x)" for fmt, us in results.items())
            print(f"  {name:>8} [{out}x{in_features}] rows {rows:>2}: {cells}", flush=True)
    print("decode attention over 200 tokens, us per call:")
    for rows in (1, 8, 32):
        fp32, bf16 = attention(rows, torch.float32), attention(rows, torch.bfloat16)
        print(f"  rows {rows:>2}: float32 {fp32:8.1f}  bfloat16 {bf16:8.1f}  ({bf16 / fp32:.1f}x slower in bf16)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
