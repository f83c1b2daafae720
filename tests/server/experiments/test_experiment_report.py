"""The experiment report and the guard rule as pure functions of recorded answers."""

from __future__ import annotations

import random

import pytest

from common.rollout import GuardRule, RolloutPolicy
from server.experiments.guard import guard_verdict
from server.experiments.report import build_report, control_version
from server.experiments.stats import two_proportion_p_value, wilson_interval
from server.experiments.store import SERVE, SHADOW, Outcome


def outcome(request_id, version, output, label=None, *, role=SERVE, ok=True, latency=10.0, thumb=None, rating=None):
    return Outcome(request_id, role, version, output, latency, ok, 0.0, label, rating, thumb)


def simulated(seed=1, n=400):
    """A 70/30 split of a two-label task: version 3 right 90% of the time, version 4 70%; a shadow v5."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        version = 3 if rng.random() < 0.7 else 4
        truth = rng.choice(["positive", "negative"])
        right = rng.random() < (0.9 if version == 3 else 0.7)
        answer = truth if right else ("negative" if truth == "positive" else "positive")
        labelled = truth if i % 2 == 0 else None
        rows.append(outcome(f"r{i}", version, answer, labelled, latency=rng.uniform(5, 15), ok=rng.random() > 0.01))
        rows.append(outcome(f"r{i}", 5, truth if rng.random() < 0.8 else answer, labelled, role=SHADOW))
    return rows


def test_the_report_equals_a_direct_computation():
    rows = simulated()
    policy = RolloutPolicy(weights={3: 70, 4: 30}, shadow=5)
    arms = {a.version: a for a in build_report(rows, policy, serving_version=3)}
    assert [a.role for a in build_report(rows, policy, 3)] == ["control", "canary", "shadow"]
    for version in (3, 4):
        mine = [r for r in rows if r.role == SERVE and r.version == version]
        answered = [r for r in mine if r.ok]
        labelled = [r for r in answered if r.label is not None]
        correct = sum(r.output == r.label for r in labelled)
        arm = arms[version]
        assert (arm.requests, arm.errors, arm.labelled, arm.correct) == (len(mine), len(mine) - len(answered), len(labelled), correct)
        assert arm.accuracy == pytest.approx(correct / len(labelled))
        assert (arm.accuracy_low, arm.accuracy_high) == wilson_interval(correct, len(labelled))
        assert arm.outputs == {k: sum(r.output == k for r in answered) for k in ("positive", "negative")}
    assert arms[4].accuracy_p_value == two_proportion_p_value(arms[4].correct, arms[4].labelled, arms[3].correct, arms[3].labelled)
    assert arms[4].significant, "90% against 70% over ~100 labels each is a real difference"
    served = {r.request_id: r for r in rows if r.role == SERVE and r.ok}
    pairs = [(r, served[r.request_id]) for r in rows if r.role == SHADOW and r.request_id in served]
    assert arms[5].compared == len(pairs)
    assert arms[5].agreement == pytest.approx(sum(s.output == v.output for s, v in pairs) / len(pairs))


def test_feedback_counts_and_the_control_arm():
    rows = [
        outcome("a", 1, "banana", thumb=1, rating=5),
        outcome("b", 1, "banana", thumb=-1, rating=2),
        outcome("c", 2, "cherry", thumb=1),
    ]
    arms = {a.version: a for a in build_report(rows, None, serving_version=1)}
    assert (arms[1].thumbs_up, arms[1].thumbs_down, arms[1].ratings, arms[1].mean_rating) == (1, 1, 2, 3.5)
    assert arms[1].role == "serving" and arms[2].role == "serving"
    assert control_version(RolloutPolicy(weights={4: 60, 5: 40}), serving_version=3) == 4, "the largest arm when the serving one is out"
    assert control_version(RolloutPolicy(weights={0: 50, 3: 50}), serving_version=3) == 3


def test_the_guard_waits_for_samples_then_names_what_is_worse():
    rule = GuardRule(min_samples=50)
    good = [outcome(f"g{i}", 3, "banana", "banana") for i in range(60)]
    bad = [outcome(f"b{i}", 4, "cherry", "banana") for i in range(30)]
    arms = build_report(good + bad, RolloutPolicy(weights={3: 90, 4: 10}, guard=rule), 3)
    assert guard_verdict(rule, arms[0], arms[1]) is None, "30 samples are too few to judge"
    bad += [outcome(f"c{i}", 4, "cherry", "banana") for i in range(30)]
    arms = build_report(good + bad, RolloutPolicy(weights={3: 90, 4: 10}, guard=rule), 3)
    assert "right on 0.0% of 60" in (guard_verdict(rule, arms[0], arms[1]) or "")
    failing = [outcome(f"e{i}", 4, "", ok=False) for i in range(10)] + [outcome(f"f{i}", 4, "banana") for i in range(50)]
    arms = build_report(good + failing, RolloutPolicy(weights={3: 90, 4: 10}, guard=rule), 3)
    assert "failed 16.7% of 60" in (guard_verdict(rule, arms[0], arms[1]) or "")
    slow = [outcome(f"s{i}", 4, "banana", latency=50.0) for i in range(60)]
    arms = build_report(good + slow, RolloutPolicy(weights={3: 90, 4: 10}, guard=rule), 3)
    assert "median latency 50 ms" in (guard_verdict(rule, arms[0], arms[1]) or "")
    same = [outcome(f"o{i}", 4, "banana", "banana") for i in range(60)]
    arms = build_report(good + same, RolloutPolicy(weights={3: 90, 4: 10}, guard=rule), 3)
    assert guard_verdict(rule, arms[0], arms[1]) is None
