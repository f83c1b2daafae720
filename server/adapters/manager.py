"""Which adapter version answers a request, loading versions off the request path, and hot-swaps.

Runs on the server's event loop. A request for `name` gets the version now serving that name: the
store's current version once it has loaded and passed its checks. When the pointer moves, the new
version loads in the background while requests keep getting the old one; then new requests get the
new one, requests in flight finish on the old, and the old is freed when its last request ends.
A version that fails its checks is refused (visible in ListAdapters, the log and a metric) and the
previous one keeps serving. `name@N` pins a version. A name under a split or a shadow is routed by
the rollout unit's policy (`server.adapters.rollouts`); the manager checks a split's versions
before the unit takes it.

Loading (file reads, checksums, safetensors parsing) runs on a fresh thread per load, bounded in
number, so one slow or failing adapter never delays requests for the base model or other adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from common.adapter_manifest import AdapterRef
from common.adapter_store import AdapterStore
from common.blob_store import BlobCorrupt, BlobMissing
from common.errors import DeadlineExceeded, NotFound, Unavailable, invalid_request
from common.rollout import PROMPT_ARM, GuardRule, RolloutPolicy
from common.threads import arun_on_fresh_thread
from server.adapters.cache_policy import HostEntry, host_evictions
from server.adapters.loader import AdapterRefused, BaseSpec, LoadedAdapter, RefusalReason, load_stored
from server.adapters.rollouts import Rollouts, pick_arm
from server.adapters.slots import SlotHolder

log = logging.getLogger(__name__)

_MAX_CONCURRENT_LOADS = 2


class VersionState(enum.Enum):
    LOADING = "loading"
    LOADED = "loaded"
    REFUSED = "refused"


@dataclass
class VersionEntry:
    name: str
    version: int
    state: VersionState
    done: asyncio.Future[LoadedAdapter]
    adapter: LoadedAdapter | None = None
    reason: str = ""
    error: str = ""
    refs: int = 0
    last_used: float = field(default_factory=time.monotonic)
    superseded: bool = False  # a newer version took over; free this one when idle

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str  # "stored", "loading", "loaded", "refused"
    tier: str  # "disk", "host", "device"
    error: str
    reason: str
    refs: int
    content_hash: str
    rank: int


@dataclass(frozen=True)
class AdapterStatus:
    name: str
    versions: list[VersionStatus]
    current_version: int  # the store's pointer, 0 when none
    serving_version: int  # what requests for the bare name get, 0 when none yet
    rollout: RolloutPolicy | None = None  # the split, shadow and guard rule in force, if any


@dataclass(frozen=True)
class Route:
    """Where a request went: the adapter that answers it and, for a name under a rollout, which arm."""

    adapter: LoadedAdapter | None
    name: str = ""  # the adapter name asked for; "" for the base model
    version: int = 0  # the version that answers; 0 for the base model (a split's prompting arm)
    arm: str = ""  # "4 of 3=90 4=10" inside a split, "" outside one
    shadow: int = 0  # the version that gets a copy of the request, 0 for none


class AdapterMetrics(Protocol):
    """What the manager reports (server.metrics.ServerMetrics)."""

    def adapter_request(self, name: str) -> None: ...
    def adapter_loaded(self, seconds: float) -> None: ...
    def adapter_load_failed(self, reason: str) -> None: ...
    def adapter_evicted(self, tier: str) -> None: ...
    def adapter_swapped(self) -> None: ...


class AdapterSource(Protocol):
    """What the services need to know about adapters: AdapterManager, or NoAdapters without a store."""

    async def acquire(self, ref_text: str, timeout: float | None = None) -> LoadedAdapter | None: ...
    async def acquire_routed(self, ref_text: str, timeout: float | None = None, routing_key: str = "") -> Route: ...
    def release(self, adapter: LoadedAdapter | None) -> None: ...
    def status(self, name: str) -> AdapterStatus: ...
    async def close(self) -> None: ...


class NoAdapters:
    """Stands in for the manager on a server without an adapter store: only the base model exists."""

    async def acquire(self, ref_text: str, timeout: float | None = None) -> LoadedAdapter | None:
        if ref_text:
            AdapterRef.parse(ref_text)
            raise NotFound(f'adapter {ref_text!r} does not exist: this server has no adapter store; use adapter "" for the base model')
        return None

    async def acquire_routed(self, ref_text: str, timeout: float | None = None, routing_key: str = "") -> Route:
        return Route(await self.acquire(ref_text, timeout))

    def release(self, adapter: LoadedAdapter | None) -> None:
        pass

    def status(self, name: str) -> AdapterStatus:
        raise NotFound(f"adapter {name!r} does not exist: this server has no adapter store")

    async def close(self) -> None:
        pass


def _refusal(exc: Exception) -> AdapterRefused:
    """The refusal a failed load amounts to: a check of the loader, or a blob that is wrong or gone."""
    if isinstance(exc, AdapterRefused):
        return exc
    if isinstance(exc, BlobCorrupt):
        return AdapterRefused(RefusalReason.CHECKSUM, exc.message)
    if isinstance(exc, BlobMissing):
        return AdapterRefused(RefusalReason.MISSING, exc.message)
    return AdapterRefused(RefusalReason.MISSING, f"cannot read the version: {exc}")


class AdapterManager:
    def __init__(
        self,
        store: AdapterStore,
        spec: BaseSpec,
        slots: SlotHolder,
        *,
        max_lora_rank: int,
        host_budget_bytes: int,
        load_timeout_s: float,
        metrics: AdapterMetrics | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.slots = slots
        self.max_lora_rank = max_lora_rank
        self.host_budget_bytes = host_budget_bytes
        self.load_timeout_s = load_timeout_s
        self.metrics = metrics
        self._entries: dict[tuple[str, int], VersionEntry] = {}
        self._serving: dict[str, int] = {}
        self.rollouts = Rollouts(store)  # names whose bare-name traffic is split between versions, or shadowed
        self._loads = asyncio.Semaphore(_MAX_CONCURRENT_LOADS)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.swaps = 0

    # -- requests -----------------------------------------------------------------------------

    async def acquire(self, ref_text: str, timeout: float | None = None) -> LoadedAdapter | None:
        """The loaded adapter a request for `ref_text` runs on, held until `release`."""
        return (await self.acquire_routed(ref_text, timeout)).adapter

    async def acquire_routed(self, ref_text: str, timeout: float | None = None, routing_key: str = "") -> Route:
        """`acquire`, placing a bare-name request on a version of the name's split (by `routing_key`,
        else at random) when it has one, and naming its arm and shadow. Pinned `name@N` requests
        bypass the rollout. The prompting arm (version 0) holds no adapter."""
        if not ref_text:
            return Route(None)
        ref = AdapterRef.parse(ref_text)
        policy = self.rollouts.get(ref.name) if ref.version is None else None
        if policy is None:
            adapter = await self._acquire(ref, timeout)
            return Route(adapter, ref.name, adapter.version)
        arm = pick_arm(policy, ref.name, routing_key, lambda version: self._refused(ref.name, version))
        if arm.version == PROMPT_ARM:
            self.store.resolve(AdapterRef(ref.name, None))  # the name must still exist
            return Route(None, ref.name, PROMPT_ARM, arm.label, arm.shadow)
        adapter = await self._acquire(AdapterRef(ref.name, arm.version), timeout)
        return Route(adapter, ref.name, adapter.version, arm.label, arm.shadow)

    def _refused(self, name: str, version: int) -> bool:
        entry = self._entries.get((name, version))
        return entry is not None and entry.state is VersionState.REFUSED

    async def _acquire(self, ref: AdapterRef, timeout: float | None) -> LoadedAdapter:
        version = ref.version if ref.version is not None else self._serving.get(ref.name)
        entry = self._entries.get((ref.name, version)) if version is not None else None
        if entry is None or entry.state is not VersionState.LOADED:
            # slow path: check the store (None asks for the current version), then load
            version = self.store.resolve(AdapterRef(ref.name, version)).version
            entry = await self._wait_loaded(ref.name, version, self.load_timeout_s if timeout is None else timeout)
            if ref.version is None and ref.name not in self._serving:  # a version chosen by a split is never promoted
                self._promote(ref.name, version)
        entry.refs += 1
        entry.last_used = time.monotonic()
        if self.metrics is not None:
            self.metrics.adapter_request(ref.name)
        assert entry.adapter is not None
        return entry.adapter

    def release(self, adapter: LoadedAdapter | None) -> None:
        if adapter is None:
            return
        entry = self._entries.get((adapter.name, adapter.version))
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs == 0 and entry.superseded:
            self._unload(entry, "superseded")

    # -- loading ------------------------------------------------------------------------------

    def _start_load(self, name: str, version: int) -> VersionEntry:
        entry = self._entries.get((name, version))
        if entry is not None:  # loading, loaded, or refused (final until an admin reload)
            return entry
        loop = asyncio.get_running_loop()
        entry = VersionEntry(name, version, VersionState.LOADING, loop.create_future())
        entry.done.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning
        self._entries[name, version] = entry
        self._spawn(self._load(entry))
        return entry

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, entry: VersionEntry) -> None:
        started = time.monotonic()
        try:
            async with self._loads:
                adapter = await arun_on_fresh_thread(lambda: self._read(entry.name, entry.version), "tuneserve-adapter-loader")
        except Unavailable as exc:  # the object store is away: not a verdict on the version, so the next request tries again
            self._entries.pop((entry.name, entry.version), None)
            log.warning("adapter cannot be fetched now", extra={"adapter": entry.label, "error": exc.message})
            entry.done.set_exception(exc)
            return
        except Exception as exc:
            refused = _refusal(exc)
            entry.state, entry.reason, entry.error = VersionState.REFUSED, refused.reason.value, refused.message
            self.count_refusal(entry.label, refused)
            entry.done.set_exception(refused)
            return
        entry.adapter, entry.state = adapter, VersionState.LOADED
        seconds = time.monotonic() - started
        log.info(
            "adapter loaded",
            extra={"adapter": entry.label, "rank": adapter.rank, "mb": round(adapter.nbytes / 2**20, 1), "seconds": round(seconds, 3)},
        )
        if self.metrics is not None:
            self.metrics.adapter_loaded(seconds)
        entry.done.set_result(adapter)
        self._fit_host_budget()

    def _read(self, name: str, version: int) -> LoadedAdapter:
        """Fetches (into an object store's local cache) and checks one version; runs on a loader thread."""
        return load_stored(self.store.local_root(name, version), name, version, self.spec, self.max_lora_rank)

    def count_refusal(self, label: str, refused: AdapterRefused) -> None:
        """Logs and counts a refused version (loaded from the store, or sent to ImportAdapter)."""
        log.warning("adapter refused", extra={"adapter": label, "reason": refused.reason.value, "error": refused.message})
        if self.metrics is not None:
            self.metrics.adapter_load_failed(refused.reason.value)

    async def _wait_loaded(self, name: str, version: int, timeout: float | None) -> VersionEntry:
        entry = self._start_load(name, version)
        try:
            await asyncio.wait_for(asyncio.shield(entry.done), timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"adapter {entry.label} is still loading; retry shortly") from None
        return entry

    def _fit_host_budget(self) -> None:
        loaded = [e for e in self._entries.values() if e.state is VersionState.LOADED and e.adapter is not None]
        views = [
            HostEntry(e.label, e.adapter.nbytes, e.refs, e.last_used, self._serving.get(e.name) == e.version)  # type: ignore[union-attr]
            for e in loaded
        ]
        for label in host_evictions(views, self.host_budget_bytes):
            name, _, version = label.rpartition("@")
            self._unload(self._entries[name, int(version)], "host budget")

    def _unload(self, entry: VersionEntry, why: str) -> None:
        self._entries.pop((entry.name, entry.version), None)
        if entry.adapter is not None:
            self.slots.forget_adapter(entry.adapter.content_hash)
        log.info("adapter unloaded", extra={"adapter": entry.label, "why": why})
        if self.metrics is not None:
            self.metrics.adapter_evicted("host")

    # -- hot-swap -----------------------------------------------------------------------------

    def _promote(self, name: str, version: int) -> None:
        """Makes `version` the one bare-name requests get; the previous one goes when idle."""
        previous = self._serving.get(name)
        if previous == version:
            return
        self._serving[name] = version
        if previous is not None:
            self.swaps += 1
            if self.metrics is not None:
                self.metrics.adapter_swapped()
            log.info("adapter swapped", extra={"adapter": name, "from": previous, "to": version})
            old = self._entries.get((name, previous))
            if old is not None:
                old.superseded = True
                if old.refs == 0:
                    self._unload(old, "superseded")

    async def _swap_to(self, name: str, version: int) -> None:
        try:
            await self._wait_loaded(name, version, None)
        except AdapterRefused:
            return  # already logged and counted; the previous version keeps serving
        if self.store.current(name) == version:
            self._promote(name, version)

    async def refresh(self) -> None:
        """Looks at the store's current pointers and splits; starts swapping names whose pointer moved."""
        await asyncio.to_thread(self.store.sync)
        pointers = await asyncio.to_thread(self._pointers)
        self.rollouts.adopt(await asyncio.to_thread(self.rollouts.read, list(pointers)))
        for name, current in pointers.items():
            if current is None or self._serving.get(name) == current:
                continue
            entry = self._entries.get((name, current))
            if entry is not None and entry.state is not VersionState.LOADED:
                continue  # loading already, or refused (a refusal is final for that version)
            self._spawn(self._swap_to(name, current))

    async def set_rollout(self, name: str, weights: dict[int, int], shadow: int = 0, guard: GuardRule | None = None) -> AdapterStatus:
        """Splits `name`'s bare-name traffic and/or sends a shadow version copies of it. Every version
        is loaded and checked first, so a refused version never gets a share and the policy in force
        stays as it was."""
        try:
            policy = RolloutPolicy(weights=weights, shadow=shadow, guard=guard)
        except ValidationError as exc:
            raise invalid_request(exc, whole="weights") from None
        adapters = [v for v in policy.versions if v != PROMPT_ARM]
        for version in adapters:
            self.store.resolve(AdapterRef(name, version))
        for version in adapters:
            try:
                await self._wait_loaded(name, version, None)
            except AdapterRefused as exc:
                raise AdapterRefused(exc.reason, f"{name}@{version} cannot take part in a rollout: {exc.message}") from None
        await self.rollouts.set(name, policy)
        return self.status(name)

    async def clear_rollout(self, name: str) -> AdapterStatus:
        """Ends the split and the shadow: the name's traffic goes to its serving version again."""
        if not self.store.versions(name):
            raise NotFound(f"adapter {name!r} is not in the adapter store")
        await self.rollouts.clear(name)
        return self.status(name)

    def _pointers(self) -> dict[str, int | None]:
        """Each name's current version; a name that cannot be read is skipped and the others go on."""
        pointers: dict[str, int | None] = {}
        for name in self.store.names():
            try:
                pointers[name] = self.store.current(name)
            except OSError as exc:
                log.warning("cannot read an adapter's pointer", extra={"adapter": name, "error": str(exc)})
        return pointers

    # -- administration -----------------------------------------------------------------------

    async def load(self, ref_text: str) -> AdapterStatus:
        """Loads (or retries a refused) version; raises AdapterRefused with the reason."""
        ref = AdapterRef.parse(ref_text)
        version = self.store.resolve(ref).version
        entry = self._entries.get((ref.name, version))
        if entry is not None and entry.state is VersionState.REFUSED:
            del self._entries[ref.name, version]
        await self._wait_loaded(ref.name, version, None)
        if ref.version is None:
            self._promote(ref.name, version)
        return self.status(ref.name)

    def unload(self, ref_text: str) -> AdapterStatus:
        """Frees a loaded version now, or when its last request ends; the store keeps it."""
        ref = AdapterRef.parse(ref_text)
        versions = [ref.version] if ref.version is not None else [v for (n, v) in self._entries if n == ref.name]
        if not versions and not self.store.versions(ref.name):
            raise NotFound(f"adapter {ref.name!r} is not in the adapter store")
        for version in versions:
            entry = self._entries.get((ref.name, version))
            if entry is None:
                continue
            if entry.refs:
                entry.superseded = True
            else:
                self._unload(entry, "unload request")
        return self.status(ref.name)

    async def set_current(self, name: str, version: int) -> AdapterStatus:
        """Rolls `name` forward or back: checks and loads `version` first, then moves the pointer."""
        self.store.resolve(AdapterRef(name, version))
        await self._wait_loaded(name, version, None)
        await asyncio.to_thread(self.store.set_current, name, version)
        self._promote(name, version)
        return self.status(name)

    # -- reporting ----------------------------------------------------------------------------

    def status(self, name: str) -> AdapterStatus:
        resident = self.slots.resident_adapters()
        stored = self.store.versions(name)
        if not stored and not any(n == name for n, _ in self._entries):
            raise NotFound(f"adapter {name!r} is not in the adapter store")
        versions = []
        for version in sorted(set(stored) | {v for (n, v) in self._entries if n == name}):
            entry = self._entries.get((name, version))
            if entry is None:
                versions.append(VersionStatus(version, "stored", "disk", "", "", 0, "", 0))
                continue
            adapter = entry.adapter
            tier = "disk" if adapter is None else ("device" if adapter.content_hash in resident else "host")
            versions.append(
                VersionStatus(
                    version,
                    entry.state.value,
                    tier,
                    entry.error,
                    entry.reason,
                    entry.refs,
                    adapter.content_hash if adapter else "",
                    adapter.rank if adapter else 0,
                )
            )
        policy = self.rollouts.get(name)
        return AdapterStatus(name, versions, self.store.current(name) or 0, self._serving.get(name, 0), policy)

    def statuses(self) -> list[AdapterStatus]:
        names = sorted(set(self.store.names()) | {n for n, _ in self._entries})
        statuses = []
        for name in names:
            with contextlib.suppress(NotFound):  # removed from the store meanwhile
                statuses.append(self.status(name))
        return statuses

    def tier_counts(self) -> dict[str, int]:
        resident = self.slots.resident_adapters()
        counts = {"host": 0, "device": 0}
        for entry in self._entries.values():
            if entry.adapter is not None:
                counts["device" if entry.adapter.content_hash in resident else "host"] += 1
        return counts

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.store.close)
