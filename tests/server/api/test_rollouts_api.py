"""Traffic splits between adapter versions on a real server: sticky arms, pinned requests, promotion."""

from __future__ import annotations

import pytest
from tuneserve_client import Client, cli, errors

from common.adapter_store import AdapterStore
from common.rollout import POLICY_FILE
from tests.adapter_training import publish
from tests.conftest import running_server
from tests.waiting import wait_for

QUESTION = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def store(tmp_path_factory, trained_adapters, base_spec) -> AdapterStore:
    store = AdapterStore(tmp_path_factory.mktemp("rollout-store"))
    publish(store, trained_adapters["banana"], "fruit", base_spec)  # fruit@1
    publish(store, trained_adapters["cherry"], "fruit", base_spec)  # fruit@2, current
    store.set_current("fruit", 1)
    return store


@pytest.fixture(scope="module")
def rollout_server(base_model, cache_dir, store):
    with running_server(base_model, cache_dir, adapter_store=store.root, adapter_poll_interval_s=0.1, max_loras=4) as running:
        yield running


def arm_of(client: Client, key: str, adapter: str = "fruit") -> tuple[str, str]:
    reply = client.generate(messages=QUESTION, adapter=adapter, routing_key=key, max_new_tokens=1)
    return reply.adapter, reply.rollout_arm


def test_a_split_sends_each_key_to_one_version_and_pinned_requests_bypass_it(rollout_server, store):
    with Client(rollout_server.address, timeout=120) as client:
        assert {arm_of(client, f"user-{i}")[0] for i in range(6)} == {"fruit@1"}, "before the split: the current version"
        info = client.set_rollout("fruit", {1: 50, 2: 50})
        assert dict(info.rollout_weights) == {1: 50, 2: 50}
        assert (store.root / "fruit" / POLICY_FILE).is_file(), "the split is stored beside the pointer"
        first = {key: arm_of(client, key) for key in (f"user-{i}" for i in range(24))}
        assert {label for label, _ in first.values()} == {"fruit@1", "fruit@2"}
        assert all(arm == f"{label.split('@')[1]} of 1=50 2=50" for label, arm in first.values())
        assert all(arm_of(client, key) == seen for key, seen in list(first.items())[:8]), "every key keeps its arm"
        assert arm_of(client, "user-0", adapter="fruit@2") == ("fruit@2", ""), "a pinned request bypasses the split"
        stream = list(client.generate_stream(messages=QUESTION, adapter="fruit", routing_key="user-1", max_new_tokens=1))
        assert stream[-1].rollout_arm == first["user-1"][1]


def test_bad_splits_are_refused_and_leave_the_split_in_force(rollout_server):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_rollout("fruit", {1: 80, 2: 20})
        with pytest.raises(errors.InvalidArgumentError, match="add up to 100") as info:
            client.set_rollout("fruit", {1: 80, 2: 10})
        assert info.value.field == "weights"
        with pytest.raises(errors.NotFoundError, match="no version 9"):
            client.set_rollout("fruit", {1: 50, 9: 50})
        with pytest.raises(errors.NotFoundError):
            client.set_rollout("nope", {1: 50, 2: 50})
        assert dict(client.get_adapter("fruit").rollout_weights) == {1: 80, 2: 20}


def test_a_restarted_server_keeps_the_split_and_promote_ends_it(base_model, cache_dir, store, rollout_server, capsys):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_rollout("fruit", {1: 70, 2: 30})
    with running_server(base_model, cache_dir, adapter_store=store.root, adapter_poll_interval_s=0.1, max_loras=4) as second:
        with Client(second.address, timeout=120) as client:
            wait_for(lambda: dict(client.get_adapter("fruit").rollout_weights) == {1: 70, 2: 30}, 30, what="the stored split")
            assert arm_of(client, "user-5")[1].endswith("of 1=70 2=30")
        assert cli.main(["--server", second.address, "adapters", "promote", "fruit", "2"]) == 0
        assert "serving" in capsys.readouterr().out
        with Client(second.address, timeout=120) as client:
            info = client.get_adapter("fruit")
            assert info.current_version == 2 and not info.rollout_weights
            assert {arm_of(client, f"user-{i}") for i in range(6)} == {("fruit@2", "")}
    assert not (store.root / "fruit" / POLICY_FILE).exists()
