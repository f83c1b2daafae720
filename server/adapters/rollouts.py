"""The rollout policies in force on this server, and which arm of a split a request lands on.

The policies (splits, shadows, guard rules: `common.rollout`) live in the adapter store beside each
name's pointer; this unit keeps the copy this server routes by, re-reads it when the store changes,
and writes changes through. It does not load adapters: the manager checks every version of a new
split before handing it here, so a policy in force never names a refused version. Runs on the
server's event loop; store reads and writes go to a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from common.adapter_store import AdapterStore
from common.rollout import PROMPT_ARM, RolloutPolicy, choose_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arm:
    """Where a bare-name request goes under a policy."""

    version: int | None  # the version that answers, PROMPT_ARM for the prompting arm; None: the serving version
    label: str  # "4 of 3=90 4=10" inside a split, "" outside one
    shadow: int  # the version that gets a copy of the request, 0 for none


def pick_arm(policy: RolloutPolicy, name: str, routing_key: str, refused: Callable[[int], bool]) -> Arm:
    """The arm of `policy` a request for `name` with `routing_key` lands on (pure but for the random
    placement of requests without a key). A refused arm never takes traffic: its requests go to the
    serving version instead."""
    version = choose_version(policy, name, routing_key)
    if version is None or (version != PROMPT_ARM and refused(version)):
        return Arm(None, "", policy.shadow)
    return Arm(version, f"{version} of {policy.describe()}", policy.shadow)


class Rollouts:
    """The policies this server routes by, one per adapter name under a split or a shadow."""

    def __init__(self, store: AdapterStore) -> None:
        self.store = store
        self._policies: dict[str, RolloutPolicy] = {}

    def get(self, name: str) -> RolloutPolicy | None:
        return self._policies.get(name)

    def all(self) -> dict[str, RolloutPolicy]:
        return dict(self._policies)

    def read(self, names: list[str]) -> dict[str, RolloutPolicy]:
        """Each name's policy from the store (blocking); a broken file keeps the policy in force
        before it (or none), and is logged."""
        policies: dict[str, RolloutPolicy] = {}
        for name in names:
            try:
                policy = self.store.rollout(name)
            except ValueError as exc:
                log.warning("unusable rollout file; the previous split stays in force", extra={"adapter": name, "error": str(exc)})
                policy = self._policies.get(name)
            if policy is not None:
                policies[name] = policy
        return policies

    def adopt(self, policies: dict[str, RolloutPolicy]) -> None:
        """Routes by `policies` from now on (what `read` found), logging what started and ended."""
        for name in set(self._policies) - set(policies):
            log.info("rollout ended", extra={"adapter": name})
        for name, policy in policies.items():
            if self._policies.get(name) != policy:
                log.info("rollout", extra={"adapter": name, "split": policy.describe()})
        self._policies = policies

    async def set(self, name: str, policy: RolloutPolicy) -> None:
        """Writes `policy` to the store and routes by it; its versions must have been checked."""
        await asyncio.to_thread(self.store.set_rollout, name, policy)
        self._policies[name] = policy
        log.info("rollout", extra={"adapter": name, "split": policy.describe()})

    async def clear(self, name: str) -> None:
        """Ends `name`'s split and shadow."""
        await asyncio.to_thread(self.store.set_rollout, name, None)
        if self._policies.pop(name, None) is not None:
            log.info("rollout ended", extra={"adapter": name})

    async def end_split(self, name: str, reason: str) -> None:
        """Ends `name`'s split (a shadow stays) for `reason`: what the guard rule does to a bad canary."""
        policy = self._policies.get(name)
        if policy is None or not policy.weights:
            return
        remaining = policy.without_split()
        await asyncio.to_thread(self.store.set_rollout, name, remaining)
        if remaining is None:
            self._policies.pop(name, None)
        else:
            self._policies[name] = remaining
        log.warning("rollout rolled back", extra={"adapter": name, "split": policy.describe(), "reason": reason})
