"""Batched LoRA: per-row adapter deltas for a batch that mixes adapters and the base model.

The tables follow the model step's fused projections (server.engine.weights): q, k and v form one
group, gate and up another, o and down one each. A group's table spans all decoder layers: A
`[layers, slots, n * r_max, in]` holds its n members' A matrices one above the other, and B
`[layers, slots, out_q + out_k + ..., n * r_max]` their B matrices (already multiplied by the
adapter's scale) block-diagonally, so `x @ A.T @ B.T` is every member's delta at once, laid out
like the fused output. Slot 0 is all zeros (the base model). Lower ranks are zero-padded and a
module an adapter does not target stays zero, so adapters of different ranks and targets share a
batch; adapters from PEFT load unchanged, module by module, into their group's blocks.

Each step, `route` groups the decode rows by adapter and picks the weights once for all layers:
the step's adapters and the columns their ranks use, gathered into `[layers, U, n * r, in]`. Per
layer and group, rows grouped by adapter go through `[U, m, in] @ [U, in, n * r] @ [U, n * r, out]`;
each prefill chunk (one sequence, one adapter) is a plain matmul pair. Deltas are added into the
fused output in place; base rows cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from server.adapters.loader import BaseSpec, LoadedAdapter

# The fused projections of a decoder layer and the LoRA-targetable modules each holds, in order.
GROUPS: dict[str, tuple[str, ...]] = {
    "qkv": ("q_proj", "k_proj", "v_proj"),
    "o": ("o_proj",),
    "gate_up": ("gate_proj", "up_proj"),
    "down": ("down_proj",),
}


@dataclass(frozen=True)
class Place:
    """Where one module's A and B go in its group's table."""

    group: str
    index: int  # position among the group's members: A rows [index * r_max, index * r_max + r)
    out_start: int  # B rows [out_start, out_start + out)
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
    decode: DecodeGroups | None
    segments: list[tuple[int, int, int]]  # (start, stop, slot) of prefill rows using an adapter
    groups: frozenset[str] = field(default_factory=frozenset)  # groups any adapter of the step targets


class LoraTables:
    def __init__(self, spec: BaseSpec, max_loras: int, max_rank: int, device: torch.device) -> None:
        self.max_rank = max_rank
        slots, layers = max_loras + 1, spec.num_layers
        self.places: dict[str, Place] = {}
        self.A: dict[str, torch.Tensor] = {}
        self.B: dict[str, torch.Tensor] = {}
        for group, members in GROUPS.items():
            in_features = spec.shapes[members[0]][0]
            out_start = 0
            for index, module in enumerate(members):
                out = spec.shapes[module][1]
                self.places[module] = Place(group, index, out_start, out)
                out_start += out
            self.A[group] = torch.zeros(layers, slots, len(members) * max_rank, in_features, dtype=spec.dtype, device=device)
            self.B[group] = torch.zeros(layers, slots, out_start, len(members) * max_rank, dtype=spec.dtype, device=device)
        self.ranks = [0] * slots
        self.groups: list[frozenset[str]] = [frozenset()] * slots
        self.device = device
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
        for group in GROUPS:
            self.A[group][:, slot].zero_()
            self.B[group][:, slot].zero_()
        for (layer, module), (a, b) in adapter.weights.items():
            place = self.places[module]
            rows = slice(place.index * width, place.index * width + r)
            self.A[place.group][layer, slot, rows].copy_(a)
            self.B[place.group][layer, slot, place.out_start : place.out_start + place.out, rows].copy_(b * adapter.scale)
        self.ranks[slot] = r
        self.groups[slot] = frozenset(self.places[m].group for m in adapter.modules)
        self._writes += 1

    def columns(self, group: str, rank: int) -> torch.Tensor:
        """The A rows (B columns) a group uses for adapters of rank <= `rank`."""
        key = (group, rank)
        if key not in self._columns:
            width = self.max_rank
            cols = [i * width + j for i in range(len(GROUPS[group])) for j in range(rank)]
            self._columns[key] = torch.tensor(cols, device=self.device)
        return self._columns[key]

    def route(self, decode_slots: list[int], prefill: list[tuple[int, int, int]]) -> LoraRouting | None:
        """Routing for a step: decode rows' slots in row order, and prefill (start, length, slot)."""
        used = {s for s in decode_slots if s} | {slot for _, _, slot in prefill if slot}
        if not used:
            return None
        groups = frozenset().union(*(self.groups[s] for s in used))
        decode_used = sorted({s for s in decode_slots if s})
        decode = self._group(decode_slots, decode_used, groups) if decode_used else None
        segments = [(start, start + length, slot) for start, length, slot in prefill if slot]
        return LoraRouting(len(decode_slots), decode, segments, groups)

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
            cols = self.columns(group, rank)
            a = self.A[group][:, index][:, :, cols]  # [L, U, n*r, in]
            b = self.B[group][:, index][:, :, :, cols]  # [L, U, out, n*r]
            weights[group] = (a.contiguous(), b.contiguous())
        self._gathered = (key, weights)
        return weights

    def add(self, layer: int, group: str, x: torch.Tensor, out: torch.Tensor, routing: LoraRouting) -> None:
        """Adds each row's LoRA delta of `group` to the fused output `out` ([T, out]), in place."""
        if group not in routing.groups:
            return
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
            cols = self.columns(group, self.ranks[slot])
            h = x[start:stop] @ self.A[group][layer, slot, cols].T  # [n, k]
            out[start:stop] += h @ self.B[group][layer, slot][:, cols].T
