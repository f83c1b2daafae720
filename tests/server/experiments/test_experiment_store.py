"""The experiment store on a real SQLite file: feedback joins, restarts, retention."""

from __future__ import annotations

import asyncio
import time

import pytest

from common.errors import InvalidRequest, NotFound
from server.experiments.recorder import Experiments
from server.experiments.store import SHADOW, ExperimentStore, Served


def test_answers_and_feedback_survive_reopening_and_feedback_merges(tmp_path):
    store = ExperimentStore(tmp_path / "x.sqlite", retention_s=3600)
    store.add(
        [Served("r1", "fruit", 2, "2 of 1=50 2=50", "cherry", 12.5, True), Served("r1", "fruit", 3, "shadow", "banana", 9, True, SHADOW)]
    )
    store.set_feedback("r1", "banana", None, None)
    store.set_feedback("r1", None, 4, -1)  # a later judgement adds to the first
    store.close()
    reopened = ExperimentStore(tmp_path / "x.sqlite", retention_s=3600)
    assert reopened.request("r1") == Served(
        "r1", "fruit", 2, "2 of 1=50 2=50", "cherry", 12.5, True, "serve", reopened.request("r1").created
    )
    rows = {r.role: r for r in reopened.outcomes("fruit", since=0)}
    assert (rows["serve"].label, rows["serve"].rating, rows["serve"].thumb) == ("banana", 4, -1)
    assert rows[SHADOW].output == "banana" and rows[SHADOW].label == "banana", "the shadow's answer is judged by the same label"
    assert reopened.request("nope") is None


def test_old_rows_are_pruned_with_their_feedback(tmp_path):
    store = ExperimentStore(tmp_path / "x.sqlite", retention_s=60)
    now = time.time()
    store.add([Served("old", "fruit", 1, "", "a", 1, True, created=now - 120), Served("new", "fruit", 1, "", "b", 1, True, created=now)])
    store.set_feedback("old", "a", None, None)
    assert store.prune(now) == 1
    assert [r.request_id for r in store.outcomes("fruit", 0)] == ["new"]
    assert store._db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0


def test_the_recorder_writes_in_the_background_and_joins_feedback(tmp_path):
    experiments = Experiments(ExperimentStore(tmp_path / "x.sqlite", retention_s=3600))

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
