"""Batched LoRA: per-row adapter deltas for a batch that mixes adapters and the base model.

The tables follow the model step's fused projections (server.engine.weights): q, k and v form one
group, gate and up another, o and down one each (a group of one module where the family stores
the projection fused and adapters address it whole, as Phi-3's qkv_proj). A group's table spans all decoder layers: A
`[layers, slots, n * r_max, in]` holds its n members' A matrices one above the other, and B
`[layers, slots, r_max, out_q + out_k + ...]` their B matrices (already multiplied by the
adapter's scale), transposed and side by side: row j holds each member's j-th column over that
member's own outputs, so B costs no more than the members' matrices themselves. Slot 0 is all
zeros (the base model). Lower ranks are zero-padded and a module an adapter does not target stays
zero, so adapters of different ranks and targets share a batch; adapters from PEFT load
unchanged, module by module, into their group's blocks.

Rows go one of two ways. With a `RowKernel` (tuneserve's C++ kernel on the CPU,
server.engine.kernels.lora_add), each row's delta is read straight from its slot in the tables,
once per adapter and call whatever its number of rows: decode rows read 8-bit copies of the tables
where the kernel offers them (the model runs in bf16 on quantized base weights there), prompt rows
read the tables themselves (prompt steps run on the full base weights too). Prompt rows take the
kernel too: as per-sequence matmul pairs, 32 prompts with their own adapters made thousands of
small bf16 matmuls a step, each costing far more than its arithmetic (docs/performance.md). Without a kernel, `route` groups the
decode rows by adapter and gathers the step's adapters once for all layers into
`[layers, U, n * r, in]` and a block-diagonal `[layers, U, out, n * r]`, and per layer and group
the rows go through `[U, m, in] @ [U, in, n * r] @ [U, n * r, out]`; each prefill chunk (one
sequence, one adapter) is a plain matmul pair per member. Deltas are added into the fused output
in place; base rows cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from server.adapters.loader import BaseSpec, LoadedAdapter


@dataclass(frozen=True)
class Place:
    """Where one module's A and B go in its group's table."""

    group: str
    index: int  # position among the group's members: A rows [index * r_max, index * r_max + r)
    out_start: int  # B columns [out_start, out_start + out)
    out: int


@dataclass
class DecodeGroups:
    """Decode rows grouped by adapter, padded to the largest group."""

    gather: torch.Tensor  # [G, m] decode row at each grouped position (num_decode = a zero row)
    rows: torch.Tensor  # [K] decode row of each real grouped position
    positions: torch.Tensor  # [K] flat index of that position in [G * m]
    weights: dict[str, tuple[torch.Tensor, torch.Tensor]]  # group -> A [L, G, n*r, in], B [L, G, out, n*r]


@dataclass
class LoraRouting:
    """Which adapter each row of a step uses, and the weights it needs, prepared once per step."""

    num_decode: int
    decode: DecodeGroups | None  # the torch path's grouping of the decode rows
    segments: list[tuple[int, int, int]]  # (start, stop, slot) of prefill rows using an adapter
    groups: frozenset[str] = field(default_factory=frozenset)  # groups any adapter of the step targets
    decode_slots: torch.Tensor | None = None  # [num_decode] int64 slot of each decode row, for the kernel
    prefill_slots: torch.Tensor | None = None  # [rows after the decode rows] int64 slot of each, for the kernel


class RowKernel(Protocol):
    """Adds rows' deltas of one group and layer straight from the tables (see lora_add.cpp)."""

    def fits(self, dtype: torch.dtype, in_features: int, bounds: Sequence[int]) -> bool: ...

    def int8(self, dtype: torch.dtype, in_features: int, max_rank: int) -> bool: ...

    def quantize(
        self, a: torch.Tensor, b: torch.Tensor, bounds: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]: ...

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
    ) -> None: ...


class LoraTables:
    def __init__(
        self,
        spec: BaseSpec,
        max_loras: int,
        max_rank: int,
        device: torch.device,
        kernel: RowKernel | None = None,
        dense: bool = False,
    ) -> None:
        # dense: also keep each group's B block-diagonal over its members (`add_dense`, the CUDA graph's way)
        self.max_rank = max_rank
        slots, layers = max_loras + 1, spec.num_layers
        # the fused projections and the modules each joins, in order: the base family's (common.model_families)
        self.layout = layout = spec.groups
        self.places: dict[str, Place] = {}
        self.bounds: dict[str, list[int]] = {}  # group -> its members' output columns [0, ..., out]
        self.A: dict[str, torch.Tensor] = {}
        self.B: dict[str, torch.Tensor] = {}
        self.members: dict[str, torch.Tensor] = {}  # group -> [slots] int64, bit i: member i targeted
        for group, members in layout.items():
            in_features = spec.shapes[members[0]][0]
            bounds = [0]
            for index, module in enumerate(members):
                out = spec.shapes[module][1]
                self.places[module] = Place(group, index, bounds[-1], out)
                bounds.append(bounds[-1] + out)
            self.bounds[group] = bounds
            self.A[group] = torch.zeros(layers, slots, len(members) * max_rank, in_features, dtype=spec.dtype, device=device)
            self.B[group] = torch.zeros(layers, slots, max_rank, bounds[-1], dtype=spec.dtype, device=device)
            self.members[group] = torch.zeros(slots, dtype=torch.long, device=device)
        # [layers, slots * n * r_max, out]: member i's B in rows [i * r_max, (i + 1) * r_max) of a slot's
        # block, over that member's own columns, zeros elsewhere; one matmul takes every member's delta
        self.block_diagonal: dict[str, torch.Tensor] = {}
        if dense:
            for group, members in layout.items():
                self.block_diagonal[group] = torch.zeros(
                    layers, slots * len(members) * max_rank, self.bounds[group][-1], dtype=spec.dtype, device=device
                )
        self.ranks = [0] * slots
        self.rank_table = torch.zeros(slots, dtype=torch.long, device=device)  # self.ranks, for the kernel
        self.groups: list[frozenset[str]] = [frozenset()] * slots
        self.modules: list[frozenset[str]] = [frozenset()] * slots
        self.device = device
        fits = kernel is not None and all(
            kernel.fits(spec.dtype, spec.shapes[members[0]][0], self.bounds[group]) for group, members in layout.items()
        )
        self.kernel = kernel if fits else None
        # What decode rows read with the kernel: the tables themselves, or 8-bit copies with their scales
        self.decode_tables: dict[str, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]] = {}
        kernel = self.kernel
        int8 = kernel is not None and all(kernel.int8(spec.dtype, spec.shapes[m[0]][0], max_rank) for m in layout.values())
        for group in layout if kernel is not None else ():
            a, b = self.A[group], self.B[group]
            if int8 and kernel is not None:
                qa, sa, qb, sb = (
                    torch.zeros(layers, slots, *t.shape[2:], dtype=t.dtype, device=device)
                    for t in kernel.quantize(a[:, :1], b[:, :1], self.bounds[group])  # one slot's, for the shapes
                )
                self.decode_tables[group] = (qa, sa, qb, sb)
            else:
                self.decode_tables[group] = (a, None, b, None)
        # one layer's views of them, made once: selecting four views 120 times a step costs a millisecond
        self._layer_tables = {
            group: [(qa[i], None if sa is None else sa[i], qb[i], None if sb is None else sb[i]) for i in range(layers)]
            for group, (qa, sa, qb, sb) in self.decode_tables.items()
        }
        self._exact_tables = {group: [(self.A[group][i], self.B[group][i]) for i in range(layers)] for group in self.decode_tables}
        self._writes = 0  # bumped by every write, so gathered weights know when they are stale
        self._gathered: tuple[tuple[object, ...], dict[str, tuple[torch.Tensor, torch.Tensor]]] | None = None
        self._columns: dict[tuple[str, int], torch.Tensor] = {}

    @property
    def num_slots(self) -> int:
        return len(self.ranks) - 1

    def write(self, slot: int, adapter: LoadedAdapter) -> None:
        """Copies an adapter into a slot (B pre-scaled), clearing what the previous occupant left."""
        assert slot > 0, "slot 0 is the base model"
        r, width = adapter.rank, self.max_rank
        for group in self.layout:
            self.A[group][:, slot].zero_()
            self.B[group][:, slot].zero_()
        for (layer, module), (a, b) in adapter.weights.items():
            place = self.places[module]
            rows = slice(place.index * width, place.index * width + r)
            self.A[place.group][layer, slot, rows].copy_(a)
            self.B[place.group][layer, slot, :r, place.out_start : place.out_start + place.out].copy_((b * adapter.scale).T)
        for group, (qa, sa, qb, sb) in self.decode_tables.items():
            if sa is not None and sb is not None and self.kernel is not None:
                qa[:, slot], sa[:, slot], qb[:, slot], sb[:, slot] = self.kernel.quantize(
                    self.A[group][:, slot], self.B[group][:, slot], self.bounds[group]
                )
        for group, table in self.block_diagonal.items():
            n = len(self.layout[group])
            block = table.view(table.shape[0], -1, n * width, table.shape[2])[:, slot]  # [layers, n * r_max, out]
            block.zero_()
            for i, (lo, hi) in enumerate(zip(self.bounds[group], self.bounds[group][1:], strict=False)):
                block[:, i * width : (i + 1) * width, lo:hi] = self.B[group][:, slot, :, lo:hi]
        for group in self.layout:
            self.members[group][slot] = sum(1 << self.places[m].index for m in adapter.modules if self.places[m].group == group)
        self.ranks[slot] = r
        self.rank_table[slot] = r
        self.groups[slot] = frozenset(self.places[m].group for m in adapter.modules)
        self.modules[slot] = frozenset(adapter.modules)
        self._writes += 1

    def columns(self, group: str, rank: int) -> torch.Tensor:
        """The A rows a group uses for adapters of rank <= `rank`."""
        key = (group, rank)
        if key not in self._columns:
            width = self.max_rank
            cols = [i * width + j for i in range(len(self.layout[group])) for j in range(rank)]
            self._columns[key] = torch.tensor(cols, device=self.device)
        return self._columns[key]

    def route(self, decode_slots: list[int], prefill: list[tuple[int, int, int]]) -> LoraRouting | None:
        """Routing for a step: decode rows' slots in row order, and prefill (start, length, slot)."""
        used = {s for s in decode_slots if s} | {slot for _, _, slot in prefill if slot}
        if not used:
            return None
        groups = frozenset().union(*(self.groups[s] for s in used))
        decode_used = sorted({s for s in decode_slots if s})
        segments = [(start, start + length, slot) for start, length, slot in prefill if slot]
        if self.kernel is not None:
            return LoraRouting(
                len(decode_slots),
                None,
                [],
                groups,
                decode_slots=torch.tensor(decode_slots, dtype=torch.long, device=self.device) if decode_used else None,
                prefill_slots=self._prefill_slots(len(decode_slots), segments) if segments else None,
            )
        decode = self._group(decode_slots, decode_used, groups) if decode_used else None
        return LoraRouting(len(decode_slots), decode, segments, groups)

    def _prefill_slots(self, num_decode: int, segments: list[tuple[int, int, int]]) -> torch.Tensor:
        """The slot of every row from the first prefill row to the last adapter one (0: base model)."""
        slots = torch.zeros(max(stop for _, stop, _ in segments) - num_decode, dtype=torch.long)
        for start, stop, slot in segments:
            slots[start - num_decode : stop - num_decode] = slot
        return slots.to(self.device)

    def _group(self, decode_slots: list[int], used: list[int], groups: frozenset[str]) -> DecodeGroups:
        rank = max(self.ranks[s] for s in used)
        index = {slot: g for g, slot in enumerate(used)}
        members: list[list[int]] = [[] for _ in used]
        for row, slot in enumerate(decode_slots):
            if slot:
                members[index[slot]].append(row)
        width = max(len(rows) for rows in members)
        pad = len(decode_slots)  # index of the zero row appended below the decode rows
        return DecodeGroups(
            gather=torch.tensor([rows + [pad] * (width - len(rows)) for rows in members], device=self.device),
            rows=torch.tensor([row for rows in members for row in rows], device=self.device),
            positions=torch.tensor([g * width + j for g, rows in enumerate(members) for j in range(len(rows))], device=self.device),
            weights=self._weights(tuple(used), rank, groups),
        )

    def _weights(self, slots: tuple[int, ...], rank: int, groups: frozenset[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The step's A and B for all layers: the used slots, and the columns their ranks use.

        A batch keeps the same adapters for many steps, so a gather is reused until the set of
        slots or their contents change.
        """
        key = (slots, rank, groups, self._writes)
        if self._gathered is not None and self._gathered[0] == key:
            return self._gathered[1]
        index = torch.tensor(slots, device=self.device)
        weights = {}
        for group in groups:
            a = self.A[group][:, index][:, :, self.columns(group, rank)]  # [L, U, n*r, in]
            compact = self.B[group][:, index, :rank]  # [L, U, r, out]
            b = compact.new_zeros(*compact.shape[:2], compact.shape[3], len(self.layout[group]) * rank)  # [L, U, out, n*r]
            for i, (lo, hi) in enumerate(zip(self.bounds[group], self.bounds[group][1:], strict=False)):
                b[:, :, lo:hi, i * rank : (i + 1) * rank] = compact[..., lo:hi].transpose(2, 3)
            weights[group] = (a.contiguous(), b)
        self._gathered = (key, weights)
        return weights

    def dense_tables(self, layer: int, group: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One layer's A of every slot [slots * n * r_max, in] and block-diagonal B [slots * n * r_max, out]."""
        a = self.A[group][layer]
        return a.view(-1, a.shape[-1]), self.block_diagonal[group][layer]

    @staticmethod
    def add_dense(x: torch.Tensor, out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        """`out` plus each row's delta from the slot `one_hot` marks ([rows, slots]), with shapes fixed by
        the tables alone: every row is multiplied by every slot's A, and all but its own slot's part is
        zeroed before B. Steps of few rows and few slots are bound by reading the tables, which this
        does once each, so this costs no more than gathering per row; and it has no data-dependent
        shape, which a CUDA graph cannot replay. Returns the sum (pure, for the compiler)."""
        rows, slots = one_hot.shape
        h = (x @ a.T).view(rows, slots, -1) * one_hot[:, :, None]
        return out + h.view(rows, -1) @ b

    @property
    def in_graph(self) -> bool:
        """Whether decode rows can take their deltas inside the compiled decode step (`add_decode`)."""
        return self.kernel is not None

    def add_decode(self, layer: int, group: str, x: torch.Tensor, out: torch.Tensor, decode_slots: torch.Tensor) -> None:
        """Adds the deltas of `group` to the leading rows of `out` whose slot `decode_slots` gives, with the kernel."""
        self._kernel_add(group, self._layer_tables[group][layer], x, out, decode_slots)

    def _kernel_add(
        self,
        group: str,
        tables: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None],
        x: torch.Tensor,
        out: torch.Tensor,
        row_slots: torch.Tensor,
    ) -> None:
        """The kernel's deltas of `group` for the leading rows of `x`, from one layer's (a, a_scale, b, b_scale)."""
        assert self.kernel is not None, "rows take the kernel's path only where there is one"
        a, a_scale, b, b_scale = tables
        self.kernel(out, x, a, a_scale, b, b_scale, row_slots, self.rank_table, self.members[group], self.bounds[group])

    def decode_reads(self, layer: int, group: str) -> list[torch.Tensor]:
        """The tables `add_decode` reads for one layer and group ([slots, ...] each), for a caller
        that can fetch the step's slots of them into cache ahead of the call."""
        return [t for t in self._layer_tables[group][layer] if t is not None] if self.kernel is not None else []

    def add(self, layer: int, group: str, x: torch.Tensor, out: torch.Tensor, routing: LoraRouting) -> None:
        """Adds each row's LoRA delta of `group` to the fused output `out` ([T, out]), in place."""
        if group not in routing.groups:
            return
        if routing.decode_slots is not None:
            self.add_decode(layer, group, x, out, routing.decode_slots)
        if routing.prefill_slots is not None:
            # prompt rows read the exact tables, as the base's prompt steps read its full weights
            a, b = self._exact_tables[group][layer]
            start = routing.num_decode
            self._kernel_add(group, (a, None, b, None), x[start:], out[start:], routing.prefill_slots)
        decode = routing.decode
        if decode is not None and group in decode.weights:
            rows = x[: routing.num_decode]
            xg = torch.cat([rows, rows.new_zeros(1, rows.shape[1])])[decode.gather]  # [G, m, in]
            a, b = decode.weights[group]
            y = torch.bmm(torch.bmm(xg, a[layer].transpose(1, 2)), b[layer].transpose(1, 2))  # [G, m, out]
            out.index_add_(0, decode.rows, y.reshape(-1, y.shape[-1])[decode.positions])
        for start, stop, slot in routing.segments:
            if group not in self.groups[slot]:
                continue
            r = self.ranks[slot]
            h = x[start:stop] @ self.A[group][layer, slot, self.columns(group, r)].T  # [n, members * r]
            b = self.B[group][layer, slot, :r]  # [r, out]
            for i, (lo, hi) in enumerate(zip(self.bounds[group], self.bounds[group][1:], strict=False)):
                if self.layout[group][i] in self.modules[slot]:
                    out[start:stop, lo:hi] += h[:, i * r : (i + 1) * r] @ b[:, lo:hi]
