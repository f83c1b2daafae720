"""The device LoRA slots: which adapter each holds, which are in use, and freeing them on request.

`LoraSlots` is the one owner of this bookkeeping. The engine claims slots for the adapters a step
admits (the choice is server.adapters.cache_policy's `SlotPlanner`), holds a slot while a request
runs on it and releases it after; the adapter manager, on its own thread, only asks which adapters
are resident and which to drop, through the `SlotHolder` protocol. Slot 0 is the base model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from server.adapters.cache_policy import SlotClaim, SlotPlanner, SlotView
from server.adapters.loader import LoadedAdapter
from server.adapters.lora import LoraTables


class SlotHolder(Protocol):
    """What the adapter manager may ask of the slots (from any thread)."""

    def forget_adapter(self, content_hash: str) -> None: ...
    def resident_adapters(self) -> set[str]: ...


class LoraSlots:
    """Slots 1..max_loras of the LoRA tables: their occupants, use counts and recency.

    `forget_adapter` and `resident_adapters` may be called from any thread; everything else runs
    on the engine thread, which owns the tables' tensors.
    """

    def __init__(self, max_loras: int, wake: Callable[[], None] = lambda: None) -> None:
        count = max_loras + 1
        self.tables: LoraTables | None = None  # built on the engine thread
        self._adapter: list[str | None] = [None] * count  # content hash held by each slot
        self._busy = [0] * count  # running requests on each slot
        self._last_used = [0] * count  # engine step of the last use
        self._forget: set[str] = set()
        self._lock = threading.Lock()
        self._wake = wake

    # -- any thread ---------------------------------------------------------------------------

    def forget_adapter(self, content_hash: str) -> None:
        """Frees the slot holding this adapter once no running request uses it."""
        with self._lock:
            self._forget.add(content_hash)
        self._wake()

    def resident_adapters(self) -> set[str]:
        """Content hashes of the adapters now in slots."""
        return {a for a in list(self._adapter) if a is not None}

    @property
    def has_forgotten(self) -> bool:
        return bool(self._forget)

    # -- engine thread ------------------------------------------------------------------------

    def free_forgotten(self) -> None:
        """Empties the idle slots of adapters the manager dropped; busy ones stay until evicted."""
        with self._lock:
            forget, self._forget = self._forget, set()
        for slot, held in enumerate(self._adapter):
            if held in forget and not self._busy[slot]:
                self._adapter[slot] = None

    def planner(self) -> SlotPlanner:
        return SlotPlanner(
            [SlotView(slot, self._adapter[slot], self._busy[slot] > 0, self._last_used[slot]) for slot in range(1, len(self._adapter))]
        )

    def fill(self, claims: Iterable[SlotClaim], adapters: dict[str, LoadedAdapter]) -> None:
        """Copies the adapters a step's plan brings in into the slots it chose for them."""
        assert self.tables is not None, "the engine builds the tables before its first step"
        for claim in claims:
            self.tables.write(claim.slot, adapters[claim.adapter])
            self._adapter[claim.slot] = claim.adapter

    def slot_of(self, content_hash: str | None) -> int:
        return 0 if content_hash is None else self._adapter.index(content_hash)

    def hold(self, slot: int) -> None:
        self._busy[slot] += 1

    def release(self, slot: int) -> None:
        self._busy[slot] -= 1

    def touch(self, slot: int, step: int) -> None:
        self._last_used[slot] = step
