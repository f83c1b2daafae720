"""What to keep loaded: device LoRA slots and host memory, as pure decisions over plain views.

Two tiers, two budgets. Device slots (`max_loras`) hold the adapters a batch can use; host memory
(`max_host_adapter_mb`) holds checked adapters ready to be copied into a slot. In both, an adapter
used by a running request is never evicted; otherwise the least recently used goes first.
The engine and the adapter manager execute these decisions; nothing here touches a tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SlotView:
    slot: int  # 1..max_loras; slot 0 is the base model's all-zero slot
    adapter: str | None  # content hash of the adapter in the slot, None when free
    busy: bool  # a running sequence uses it
    last_used: int  # engine step of its last use, for LRU


@dataclass(frozen=True)
class SlotClaim:
    adapter: str
    slot: int
    evicted: str | None  # adapter that leaves the slot, if any


@dataclass
class SlotPlanner:
    """Claims slots for adapters one request at a time, in admission order."""

    slots: list[SlotView]
    claims: list[SlotClaim] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._resident = {s.adapter: s for s in self.slots if s.adapter is not None}

    def claim(self, adapter: str | None) -> bool:
        """Makes `adapter` resident and busy for this step; False when every slot is busy."""
        if adapter is None:
            return True
        held = self._resident.get(adapter)
        if held is not None:
            self._replace(held, SlotView(held.slot, adapter, True, held.last_used))
            return True
        free = [s for s in self.slots if s.adapter is None]
        idle = sorted((s for s in self.slots if s.adapter is not None and not s.busy), key=lambda s: (s.last_used, s.slot))
        victim = free[0] if free else (idle[0] if idle else None)
        if victim is None:
            return False
        if victim.adapter is not None:
            del self._resident[victim.adapter]
        self.claims.append(SlotClaim(adapter, victim.slot, victim.adapter))
        self._replace(victim, SlotView(victim.slot, adapter, True, victim.last_used))
        return True

    def _replace(self, old: SlotView, new: SlotView) -> None:
        self.slots = [new if s.slot == old.slot else s for s in self.slots]
        self._resident[new.adapter] = new  # type: ignore[index]


@dataclass(frozen=True)
class HostEntry:
    key: str  # "name@version"
    nbytes: int
    refs: int  # requests holding it (queued or running)
    last_used: float
    serving: bool  # the version bare-name requests get


def host_evictions(entries: list[HostEntry], budget_bytes: int, incoming_bytes: int = 0) -> list[str]:
    """Entries to drop, least recently used first, so that what stays plus `incoming` fits.

    Entries with references are never dropped; serving versions go only after idle pinned ones.
    The result may not reach the budget when everything left is in use.
    """
    total = sum(e.nbytes for e in entries) + incoming_bytes
    evict: list[str] = []
    for entry in sorted((e for e in entries if e.refs == 0), key=lambda e: (e.serving, e.last_used)):
        if total <= budget_bytes:
            break
        evict.append(entry.key)
        total -= entry.nbytes
    return evict
