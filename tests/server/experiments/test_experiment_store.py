"""The experiment store on a real SQLite file and a real PostgreSQL: feedback joins, restarts,
retention, several replicas on one record, and a database that goes away under load."""

from __future__ import annotations

import asyncio
import time

import pytest

from common.errors import InvalidRequest, NotFound, Unavailable
from server.experiments.recorder import Experiments
from server.experiments.store import SHADOW, ExperimentStore, Served


def test_answers_and_feedback_survive_reopening_and_feedback_merges(database_url):
    store = ExperimentStore.open(database_url, retention_s=3600)
    store.add(
        [Served("r1", "fruit", 2, "2 of 1=50 2=50", "cherry", 12.5, True), Served("r1", "fruit", 3, "shadow", "banana", 9, True, SHADOW)]
    )
    store.set_feedback("r1", "banana", None, None)
    store.set_feedback("r1", None, 4, -1)  # a later judgement adds to the first
    store.close()
    reopened = ExperimentStore.open(database_url, retention_s=3600)
    assert reopened.request("r1") == Served(
        "r1", "fruit", 2, "2 of 1=50 2=50", "cherry", 12.5, True, "serve", reopened.request("r1").created
    )
    rows = {r.role: r for r in reopened.outcomes("fruit", since=0)}
    assert (rows["serve"].label, rows["serve"].rating, rows["serve"].thumb) == ("banana", 4, -1)
    assert rows[SHADOW].output == "banana" and rows[SHADOW].label == "banana", "the shadow's answer is judged by the same label"
    assert reopened.request("nope") is None


def test_old_rows_are_pruned_with_their_feedback(database_url):
    store = ExperimentStore.open(database_url, retention_s=60)
    now = time.time()
    store.add([Served("old", "fruit", 1, "", "a", 1, True, created=now - 120), Served("new", "fruit", 1, "", "b", 1, True, created=now)])
    store.set_feedback("old", "a", None, None)
    assert store.prune(now) == 1
    assert [r.request_id for r in store.outcomes("fruit", 0)] == ["new"]
    with store.engine.connect() as db:
        assert db.exec_driver_sql("SELECT COUNT(*) FROM feedback").scalar() == 0


def test_the_recorder_writes_in_the_background_and_joins_feedback(database_url):
    experiments = Experiments(ExperimentStore.open(database_url, retention_s=3600))

    async def scenario():
        for i in range(300):
            experiments.served(Served(f"r{i}", "fruit", 1 + i % 2, "", "banana" if i % 2 == 0 else "cherry", 5, True))
        result = await experiments.feedback("r1", "banana", None, None)  # written by now: feedback flushes first
        assert result.answer.version == 2 and result.correct is False
        assert (await experiments.feedback("r0", "Banana", 5, 1)).correct is True
        with pytest.raises(NotFound, match="no answer with request id 'r999'"):
            await experiments.feedback("r999", "banana", None, None)
        with pytest.raises(InvalidRequest):
            await experiments.feedback("r0", "x" * 5000, None, None)
        arms, _ = await experiments.report("fruit", None, 1, since=0)
        return {a.version: (a.requests, a.labelled, a.correct) for a in arms}

    assert asyncio.run(scenario()) == {1: (150, 1, 1), 2: (150, 1, 0)}
    experiments.close()


def test_feedback_reaches_any_replica_and_every_replica_reports_the_same(postgres):
    # two replicas' recorders on one PostgreSQL: answers recorded by one are judged through the other
    url = postgres.create_database()
    first, second = (Experiments(ExperimentStore.open(url, retention_s=3600)) for _ in range(2))

    async def scenario():
        for i in range(40):
            (first if i % 2 else second).served(Served(f"q{i}", "fruit", 1 + i % 2, "", "banana" if i % 4 < 2 else "cherry", 5, True))
        for i in range(40):  # straight away: the answering replica may not have written it yet
            await (second if i % 2 else first).feedback(f"q{i}", "banana", None, None)
        with pytest.raises(NotFound):
            await second.feedback("nobody-answered", "banana", None, None)
        one, _ = await first.report("fruit", None, 1, since=0)
        two, _ = await second.report("fruit", None, 1, since=0)
        return [(a.version, a.requests, a.labelled, a.correct) for a in one], [(a.version, a.requests, a.labelled, a.correct) for a in two]

    one, two = asyncio.run(scenario())
    assert one == two == [(1, 20, 20, 10), (2, 20, 20, 10)]
    assert first.leads() != second.leads(), "one of them judges and prunes"
    first.close()
    second.close()


class Counted:
    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}

    def experiment_answer(self, name: str, version: int, role: str, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def feedback_given(self, name: str, version: int, kind: str) -> None:
        pass

    def rollout_rolled_back(self, name: str) -> None:
        pass


def test_answers_wait_while_the_database_is_down_and_are_written_once_when_it_is_back(monkeypatch, postgres):
    # a cluster of its own (the session's `postgres` fixture says whether there can be one): this test stops it
    from server.experiments import recorder
    from tests.postgres import Postgres

    cluster = Postgres()
    try:
        monkeypatch.setattr(recorder, "MAX_QUEUED", 50)  # a small bound, to see it hold
        metrics = Counted()
        experiments = Experiments(ExperimentStore.open(cluster.create_database(), retention_s=3600), metrics)
        for i in range(20):
            experiments.served(Served(f"before-{i}", "fruit", 1, "", "a", 1, True))
        assert experiments.flush(10)
        cluster.stop()
        started = time.monotonic()
        for i in range(80):  # served while the database is away: never blocks, never raises
            experiments.served(Served(f"during-{i}", "fruit", 1, "", "a", 1, True))
        assert time.monotonic() - started < 1.0
        with pytest.raises(Unavailable, match="cannot be reached now"):
            asyncio.run(experiments.feedback("before-1", "a", None, None))
        time.sleep(3)
        cluster.start()
        assert experiments.flush(30), "the queue drains once the database is back"
        with experiments.store.engine.connect() as db:
            rows = db.exec_driver_sql("SELECT request_id FROM requests").scalars().all()
        during = [r for r in rows if r.startswith("during-")]
        assert len(rows) == len(set(rows)), "nothing written twice"
        assert len([r for r in rows if r.startswith("before-")]) == 20
        dropped = metrics.outcomes.get("dropped", 0)
        assert dropped > 0 and len(during) + dropped == 80, (len(during), metrics.outcomes)
        assert asyncio.run(experiments.feedback("during-0", "a", None, None)).correct is True
        experiments.close()
    finally:
        cluster.close()
