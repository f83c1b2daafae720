"""The server's rollout unit without a model: which arm a request lands on (pure), and the policies
it routes by as they are set, re-read, broken on disk and rolled back, on a real file store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from common.adapter_manifest import MANIFEST_FILE
from common.file_adapter_store import FileAdapterStore
from common.rollout import POLICY_FILE, PROMPT_ARM, GuardRule, RolloutPolicy
from server.adapters.rollouts import Arm, Rollouts, pick_arm

KEYS = [f"user-{i}" for i in range(400)]


def never_refused(version: int) -> bool:
    return False


def test_a_keyed_request_lands_on_its_arm_and_names_it():
    policy = RolloutPolicy(weights={3: 90, 4: 10}, shadow=5)
    arms = [pick_arm(policy, "fruit", key, never_refused) for key in KEYS]
    assert {arm.version for arm in arms} == {3, 4}
    assert {arm.label for arm in arms} == {"3 of 3=90 4=10 shadow=5", "4 of 3=90 4=10 shadow=5"}
    assert all(arm.shadow == 5 for arm in arms)
    assert arms == [pick_arm(policy, "fruit", key, never_refused) for key in KEYS], "a key keeps its arm"


def test_a_refused_arm_sends_its_requests_to_the_serving_version():
    policy = RolloutPolicy(weights={3: 50, 4: 50})
    arms = [pick_arm(policy, "fruit", key, lambda version: version == 4) for key in KEYS]
    assert {arm.version for arm in arms} == {3, None}
    assert all(arm.label == "" for arm in arms if arm.version is None), "outside the split: no arm named"


def test_the_prompting_arm_is_never_refused_and_a_shadow_alone_routes_to_serving():
    split = RolloutPolicy(weights={PROMPT_ARM: 50, 2: 50})
    assert PROMPT_ARM in {pick_arm(split, "fruit", key, lambda version: True).version for key in KEYS}
    shadow_only = RolloutPolicy(shadow=2)
    assert pick_arm(shadow_only, "fruit", "user-1", never_refused) == Arm(None, "", 2)


def store_with_versions(root: Path, name: str, versions: list[int]) -> FileAdapterStore:
    store = FileAdapterStore(root)
    for version in versions:  # the store lists a version by its manifest; routing never opens the weights
        (root / name / str(version)).mkdir(parents=True)
        (root / name / str(version) / MANIFEST_FILE).write_text("{}")
    return store


def test_policies_are_written_through_re_read_and_rolled_back(tmp_path: Path):
    store = store_with_versions(tmp_path, "fruit", [1, 2, 3])
    rollouts = Rollouts(store)
    guarded = RolloutPolicy(weights={1: 80, 2: 20}, shadow=3, guard=GuardRule(min_samples=8))
    asyncio.run(rollouts.set("fruit", guarded))
    assert store.rollout("fruit") == guarded and rollouts.get("fruit") == guarded

    another = Rollouts(store)  # a second replica reading the same store
    another.adopt(another.read(["fruit"]))
    assert another.all() == {"fruit": guarded}

    asyncio.run(rollouts.end_split("fruit", "canary error rate"))
    assert rollouts.get("fruit") == guarded.without_split(), "the shadow stays after a rollback"
    assert store.rollout("fruit") == guarded.without_split()

    asyncio.run(rollouts.clear("fruit"))
    assert rollouts.get("fruit") is None and store.rollout("fruit") is None
    another.adopt(another.read(["fruit"]))
    assert another.all() == {}, "a cleared split ends on every replica at its next refresh"


def test_a_broken_policy_file_keeps_the_policy_in_force(tmp_path: Path):
    store = store_with_versions(tmp_path, "fruit", [1, 2])
    rollouts = Rollouts(store)
    policy = RolloutPolicy(weights={1: 50, 2: 50})
    asyncio.run(rollouts.set("fruit", policy))
    (tmp_path / "fruit" / POLICY_FILE).write_text('{"weights": {"1": 70, "2": 70}}')
    rollouts.adopt(rollouts.read(["fruit"]))
    assert rollouts.get("fruit") == policy
    fresh = Rollouts(store)
    assert fresh.read(["fruit"]) == {}, "a server that never saw a good file routes without a split"
