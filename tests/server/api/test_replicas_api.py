"""Two real servers (127.0.0.1 and 127.0.0.2) on one PostgreSQL and one adapter store: one
experiment record, feedback through either replica, one report, and one guard that rolls a bad
canary back once while both serve."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from tuneserve_client import Client

from common.database.connect import create_engine, database_url
from common.file_adapter_store import FileAdapterStore
from tests.adapter_training import publish
from tests.conftest import running_server
from tests.load import users
from tests.waiting import wait_for

QUESTION = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def store(tmp_path_factory, trained_adapters, base_spec) -> FileAdapterStore:
    store = FileAdapterStore(tmp_path_factory.mktemp("replica-store"))
    publish(store, trained_adapters["banana"], "fruit", base_spec)  # fruit@1: answers banana
    publish(store, trained_adapters["cherry"], "fruit", base_spec)  # fruit@2: answers cherry
    store.set_current("fruit", 1)
    return store


@pytest.fixture(scope="module")
def replicas(base_model, cache_dir, store, postgres):
    url = postgres.create_database()
    common = dict(adapter_store=store.root, adapter_poll_interval_s=0.1, max_loras=4, database_url=url, guard_interval_s=0.2)
    with (
        running_server(base_model, cache_dir, **common) as first,
        running_server(base_model, cache_dir, host="127.0.0.2", **common) as second,
    ):
        yield first, second, url


def answered(client: Client, key: str) -> tuple[str, str, str]:
    reply = client.generate(messages=QUESTION, adapter="fruit", routing_key=key, max_new_tokens=8)
    return reply.request_id, reply.adapter, reply.text


def test_feedback_through_either_replica_and_one_report_equal_to_a_direct_count(replicas):
    first, second, url = replicas
    assert first.address.startswith("127.0.0.1:") and second.address.startswith("127.0.0.2:")
    with Client(first.address, timeout=120) as one, Client(second.address, timeout=120) as two:
        one.set_rollout("fruit", {1: 50, 2: 50})
        two.wait_until_ready()
        for client in (one, two):
            wait_for(lambda c=client: dict(c.get_adapter("fruit").rollout_weights) == {1: 50, 2: 50}, 30, what="the split on both")
        replies = [(answered(one if i % 2 else two, f"rk-{i}"), i % 2) for i in range(16)]
        assert {adapter for (_, adapter, _), _ in replies} == {"fruit@1", "fruit@2"}
        for (request_id, adapter, _), by_first in replies:  # each judged through the replica that did not answer it
            verdict = (two if by_first else one).feedback(request_id, label="banana")
            assert verdict.adapter == adapter
        reports = [{a.version: (a.requests, a.labelled, a.correct) for a in c.get_experiment("fruit").arms} for c in (one, two)]
    expected = {
        version: (
            sum(a == f"fruit@{version}" for (_, a, _), _ in replies),
            sum(a == f"fruit@{version}" for (_, a, _), _ in replies),
            sum(a == f"fruit@{version}" and t.strip().lower() == "banana" for (_, a, t), _ in replies),
        )
        for version in (1, 2)
    }
    assert reports[0] == reports[1] == expected


def judged(client: Client, key: str) -> str:
    request_id, adapter, _ = answered(client, f"guard-{key}")
    client.feedback(request_id, label="banana")
    return adapter


def test_one_guard_rolls_a_bad_canary_back_once_while_both_replicas_serve(replicas):
    first, second, _ = replicas
    with Client(first.address, timeout=120) as client:
        client.set_current_version("fruit", 1)
        client.set_rollout("fruit", {1: 50, 2: 50}, guard={"min_samples": 8})
        with users([first.address, second.address] * 2, judged) as (served, failures):
            wait_for(lambda: not client.get_adapter("fruit").rollout_weights, 240, what="the guard's rollback")
            time.sleep(1.5)  # both replicas keep serving across the rollback
        assert failures == [], failures[:3]
        assert "fruit@2" in served
    with Client(second.address, timeout=120) as other:
        events = [e for e in other.get_experiment("fruit").events if e.kind == "rollback"]
        assert len(events) == 1, [e.detail for e in events]
    rollbacks = sum(r.server.metrics.rollout_rollbacks.labels("fruit")._value.get() for r in (first, second))
    assert rollbacks == 1, "one replica judged, once"


def test_postgresql_down_for_ten_seconds_under_load_fails_no_request_and_loses_no_record(replicas, postgres):
    first, second, url = replicas
    with Client(first.address, timeout=120) as client:
        client.set_current_version("fruit", 1)
        client.set_rollout("fruit", {1: 50, 2: 50})
    with users([first.address, second.address], lambda client, key: answered(client, f"outage-{key}")[0]) as (served, failures):
        time.sleep(1)
        postgres.stop()
        time.sleep(10)
        during = len(served)
        postgres.start()
        time.sleep(1)
    assert failures == [], failures[:3]
    assert during > 0
    for replica in (first, second):
        assert replica.server.state.require().experiments.flush(60), "each replica's queue drains once the database is back"
    engine = create_engine(database_url(url))
    with engine.connect() as db:
        rows = db.execute(sa.text("SELECT request_id FROM requests WHERE request_id = ANY(:ids)"), {"ids": served}).scalars().all()
    engine.dispose()
    assert sorted(rows) == sorted(served), "every answer recorded once (the bound was not reached)"
    with Client(second.address, timeout=120) as client:
        client.clear_rollout("fruit")
