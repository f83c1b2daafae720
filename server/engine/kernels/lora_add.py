"""Rows' LoRA deltas read straight from the slot tables (lora_add.cpp).

With many adapters in a step, each row has its own small A and B. The torch path gathers
the step's adapters into padded batches and runs two batched matrix products per fused group and
layer; on the CPU such a `bmm` of tiny matrices costs several times the time its weights take to
stream (docs/performance.md). This kernel reads each slot's A and B where they
lie (one pass per adapter, whatever its number of rows), skips the members an adapter does not
target and the ranks above its own, sums in float32 and adds into the projection's output in place.

`lora_add(out, x, a, b, row_slots, ranks, members, bounds)` is the registered op
`torch.ops.tuneserve.lora_add`; the table layout is server.adapters.lora's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from server.engine.kernels.build import unavailable_reason

__all__ = ["CHUNK", "QBLOCK", "LoraKernel", "reference", "unavailable_reason"]


QBLOCK = 64  # inputs per int8 block of the rows' inputs (lora_add.cpp's kQBlock)
CHUNK = 64  # outputs per block of an 8-bit B table (lora_add.cpp's kChunk)


@torch.library.register_fake("tuneserve::lora_add")
def _fake(out: torch.Tensor, *inputs: object) -> None:
    return None  # adds into `out` in place: nothing to allocate


class LoraKernel:
    """The kernel as server.adapters.lora calls it (its `RowKernel` protocol)."""

    def __init__(self) -> None:
        reason = unavailable_reason()  # builds and loads the library, once per process
        if reason is not None:
            raise RuntimeError(f"the LoRA kernel is not available: {reason}")

    def fits(self, dtype: torch.dtype, in_features: int, bounds: Sequence[int]) -> bool:
        """Whether a fused group of these sizes and this table dtype can run on the kernel."""
        return dtype in (torch.float32, torch.bfloat16) and in_features % 16 == 0 and all(bound % 16 == 0 for bound in bounds)

    def int8(self, dtype: torch.dtype, in_features: int, max_rank: int) -> bool:
        """Whether decode rows read 8-bit copies of tables of this dtype and these sizes.

        Where the model runs in bfloat16 its base weights are 4- or 8-bit already (the automatic
        precision), and a step with many adapters waits on reading their tables: 8 bits halve
        that, and VNNI's integer dot products cut the arithmetic. Float32 is the exact precision
        (tests compare it with PEFT token for token), kept.
        """
        return dtype == torch.bfloat16 and in_features % QBLOCK == 0 and max_rank % 4 == 0

    def quantize(
        self, a: torch.Tensor, b: torch.Tensor, bounds: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """8-bit copies of tables `a` [..., rows, in] and `b` [..., rmax, out] as the kernel reads
        them: uint8 holding q + 128, a with a scale per row [..., rows], b with a bfloat16 scale per
        output [..., out] and laid out per chunk of 64 outputs of each member as [rmax / 4, chunk, 4],
        the chunks one after the other: [..., rmax * out]."""
        qa, sa = _int8(a.float())
        # [..., out, rmax]: one scale per output, bfloat16 (in float32 the scales would be a fifth of the
        # bytes read; float16 would lose small scales to its subnormal range)
        qb, sb = _int8(b.float().transpose(-1, -2), torch.bfloat16)
        *lead, _, rmax = qb.shape
        blocks = []
        for start, stop in zip(bounds, bounds[1:], strict=False):
            for lo in range(start, stop, CHUNK):
                chunk = qb[..., lo : min(lo + CHUNK, stop), :]  # [..., w, rmax]
                blocks.append(chunk.reshape(*lead, -1, rmax // 4, 4).transpose(-3, -2).reshape(*lead, -1))
        return _biased(qa), sa, _biased(torch.cat(blocks, dim=-1)), sb

    def __call__(
        self,
        out: torch.Tensor,
        x: torch.Tensor,
        a: torch.Tensor,
        a_scale: torch.Tensor | None,
        b: torch.Tensor,
        b_scale: torch.Tensor | None,
        row_slots: torch.Tensor,
        ranks: torch.Tensor,
        members: torch.Tensor,
        bounds: Sequence[int],
    ) -> None:
        """Adds to `out` [T, out] the delta of each leading row t of `x` [T, in] with slot
        `row_slots[t]` > 0: `a` [slots, n * rmax, in], `b` [slots, rmax, out] (one layer of a group's
        tables; or 8-bit as `quantize` makes them, with their scales, else None), `ranks` and
        `members` (bit m: member m targeted) per slot, `bounds` the members' output columns."""
        torch.ops.tuneserve.lora_add(out, x, a, a_scale, b, b_scale, row_slots, ranks, members, list(bounds))


def _int8(x: torch.Tensor, scale_dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric 8-bit over the last dimension: values [..., k] in [-127, 127] and scales [...] (x ~ q * scale)."""
    scale = (x.abs().amax(-1) / 127).to(scale_dtype)
    stored = scale.float()  # rounded against the stored scale
    q = torch.round(x / torch.where(stored > 0, stored, torch.ones_like(stored))[..., None]).clamp(-127, 127)
    return q, scale


def _biased(q: torch.Tensor) -> torch.Tensor:
    # vpdpbusd multiplies unsigned bytes by signed ones: the weights go as q + 128, the kernel takes the 128 out
    return (q + 128).to(torch.uint8)


def reference(
    x: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    row_slots: Sequence[int],
    ranks: Sequence[int],
    members: Sequence[int],
    bounds: Sequence[int],
) -> torch.Tensor:
    """The deltas `lora_add` adds, row by row in float64 (for tests): [len(row_slots), out]."""
    rmax = b.shape[1]
    delta = torch.zeros(len(row_slots), b.shape[2], dtype=torch.float64)
    for t, slot in enumerate(row_slots):
        r = ranks[slot]
        for m in range(len(bounds) - 1):
            if slot == 0 or not (members[slot] >> m) & 1:
                continue
            h = a[slot, m * rmax : m * rmax + r].double() @ x[t].double()
            delta[t, bounds[m] : bounds[m + 1]] = h @ b[slot, :r, bounds[m] : bounds[m + 1]].double()
    return delta
