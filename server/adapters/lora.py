"""Batched LoRA: per-row adapter deltas for a batch that mixes adapters and the base model.

For every targetable linear layer there is a slot table spanning all decoder layers: A
`[layers, slots, r_max, in]` and B `[layers, slots, out, r_max]`, B already multiplied by the
adapter's scale. Slot 0 is all zeros (the base model). Lower ranks are zero-padded and a layer an
adapter does not target stays zero in its slot, so adapters of different ranks and target sets
share a batch.

Each step, `route` groups the decode rows by adapter and picks the weights once for all layers:
the step's adapters gathered into `[layers, U, r, in]`, or, when most slots are in use, the whole
table as a view (gathering would copy nearly all of it). Per layer, rows grouped by adapter go
through `[U, m, in] @ [U, in, r] @ [U, r, out]`, the grouped input shared by the projections that
read the same activations (q/k/v, gate/up); each prefill chunk (one sequence, one adapter) is a
plain matmul pair. Deltas are added into the base layer's output in place; base rows cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from server.adapters.loader import BaseSpec, LoadedAdapter


@dataclass
class DecodeGroups:
    """Decode rows grouped by adapter, padded to the largest group."""

    gather: torch.Tensor  # [G, m] decode row at each grouped position (num_decode = a zero row)
    rows: torch.Tensor  # [K] decode row of each real grouped position
    positions: torch.Tensor  # [K] flat index of that position in [G * m]
    weights: dict[str, tuple[torch.Tensor, torch.Tensor]]  # module -> A [L, G, r, in], B [L, G, out, r]


@dataclass
class LoraRouting:
    """Which adapter each row of a step uses, and the weights it needs, prepared once per step."""

    num_decode: int
    decode: DecodeGroups | None
    segments: list[tuple[int, int, int]]  # (start, stop, slot) of prefill rows using an adapter
    modules: frozenset[str] = field(default_factory=frozenset)  # layers any adapter of the step targets


class LoraTables:
    def __init__(self, spec: BaseSpec, max_loras: int, max_rank: int, device: torch.device) -> None:
        self.max_rank = max_rank
        slots, layers = max_loras + 1, spec.num_layers
        self.A = {m: torch.zeros(layers, slots, max_rank, i, dtype=spec.dtype, device=device) for m, (i, _) in spec.shapes.items()}
        self.B = {m: torch.zeros(layers, slots, o, max_rank, dtype=spec.dtype, device=device) for m, (_, o) in spec.shapes.items()}
        self.ranks = [0] * slots
        self.modules: list[frozenset[str]] = [frozenset()] * slots
        self.device = device
        self._writes = 0  # bumped by every write, so gathered weights know when they are stale
        self._gathered: tuple[tuple, dict[str, tuple[torch.Tensor, torch.Tensor]]] | None = None

    @property
    def num_slots(self) -> int:
        return len(self.ranks) - 1

    def write(self, slot: int, adapter: LoadedAdapter) -> None:
        """Copies an adapter into a slot (B pre-scaled), clearing what the previous occupant left."""
        assert slot > 0, "slot 0 is the base model"
        r = adapter.rank
        for module, a_table in self.A.items():
            a_table[:, slot].zero_()
            self.B[module][:, slot].zero_()
        for (layer, module), (a, b) in adapter.weights.items():
            self.A[module][layer, slot, :r].copy_(a)
            self.B[module][layer, slot, :, :r].copy_(b * adapter.scale)
        self.ranks[slot] = r
        self.modules[slot] = adapter.modules
        self._writes += 1

    def route(self, decode_slots: list[int], prefill: list[tuple[int, int, int]]) -> LoraRouting | None:
        """Routing for a step: decode rows' slots in row order, and prefill (start, length, slot)."""
        used = {s for s in decode_slots if s} | {slot for _, _, slot in prefill if slot}
        if not used:
            return None
        modules = frozenset().union(*(self.modules[s] for s in used))
        decode_used = sorted({s for s in decode_slots if s})
        groups = self._group(decode_slots, decode_used, modules) if decode_used else None
        segments = [(start, start + length, slot) for start, length, slot in prefill if slot]
        return LoraRouting(len(decode_slots), groups, segments, modules)

    def _group(self, decode_slots: list[int], used: list[int], modules: frozenset[str]) -> DecodeGroups:
        rank = max(self.ranks[s] for s in used)
        whole_table = 2 * len(used) >= self.num_slots  # gathering would copy most of the table anyway
        groups = list(range(len(self.ranks))) if whole_table else used
        index = {slot: g for g, slot in enumerate(groups)}
        members: list[list[int]] = [[] for _ in groups]
        for row, slot in enumerate(decode_slots):
            if slot:
                members[index[slot]].append(row)
        width = max(len(rows) for rows in members)
        pad = len(decode_slots)  # index of the zero row appended below the decode rows
        return DecodeGroups(
            gather=torch.tensor([rows + [pad] * (width - len(rows)) for rows in members], device=self.device),
            rows=torch.tensor([row for rows in members for row in rows], device=self.device),
            positions=torch.tensor([g * width + j for g, rows in enumerate(members) for j in range(len(rows))], device=self.device),
            weights=self._weights(None if whole_table else tuple(groups), rank, modules),
        )

    def _weights(self, slots: tuple[int, ...] | None, rank: int, modules: frozenset[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The step's A and B for all layers: views of the whole table, or the gathered slots.

        A batch keeps the same adapters for many steps, so a gather is reused until the set of
        slots or their contents change.
        """
        key = (slots, rank, modules, self._writes)
        if self._gathered is not None and self._gathered[0] == key:
            return self._gathered[1]
        index = None if slots is None else torch.tensor(slots, device=self.device)
        weights = {}
        for module in modules:
            a, b = self.A[module][:, :, :rank], self.B[module][:, :, :, :rank]
            weights[module] = (a, b) if index is None else (a[:, index], b[:, index])
        self._gathered = (key, weights)
        return weights

    def add(self, layer: int, modules: Sequence[str], x: torch.Tensor, outs: Sequence[torch.Tensor], routing: LoraRouting) -> None:
        """Adds each module's LoRA output to its base output `outs[i]` ([T, out]), in place."""
        wanted = [(m, out) for m, out in zip(modules, outs, strict=True) if m in routing.modules]
        if not wanted:
            return
        groups = routing.decode
        if groups is not None:
            decode = x[: routing.num_decode]
            xg = torch.cat([decode, decode.new_zeros(1, decode.shape[1])])[groups.gather]  # [G, m, in]
            for module, out in wanted:
                a, b = groups.weights[module]
                y = torch.bmm(torch.bmm(xg, a[layer].transpose(1, 2)), b[layer].transpose(1, 2))  # [G, m, out]
                out.index_add_(0, groups.rows, y.reshape(-1, y.shape[-1])[groups.positions])
        for start, stop, slot in routing.segments:
            rank = self.ranks[slot]
            for module, out in wanted:
                h = x[start:stop] @ self.A[module][layer, slot, :rank].T  # [n, r]
                out[start:stop] += h @ self.B[module][layer, slot, :, :rank].T
