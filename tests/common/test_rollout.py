"""Rollout policies as pure functions: weights, stickiness, and how far a weight change reaches."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from common.rollout import RolloutPolicy, choose_version

KEYS = [f"user-{i}" for i in range(2000)]


def test_a_90_10_split_lands_within_two_points_and_every_key_is_sticky():
    policy = RolloutPolicy(weights={3: 90, 4: 10})
    arms = [choose_version(policy, "fruit", key) for key in KEYS]
    share = arms.count(4) / len(arms)
    assert abs(share - 0.10) <= 0.02, share
    assert arms == [choose_version(policy, "fruit", key) for key in KEYS], "the same key always gets the same version"


def test_changing_the_weights_moves_only_the_keys_it_must():
    before = [choose_version(RolloutPolicy(weights={3: 90, 4: 10}), "fruit", key) for key in KEYS]
    after = [choose_version(RolloutPolicy(weights={3: 80, 4: 20}), "fruit", key) for key in KEYS]
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert all(move == (3, 4) for move in moved), "growing the canary only takes keys from the other arm"
    assert abs(len(moved) / len(KEYS) - 0.10) <= 0.02
    assert all(a == 4 for b, a in zip(before, after, strict=True) if b == 4), "nobody on the canary leaves it"


def test_keys_are_placed_independently_per_adapter_name_and_without_a_key_at_random():
    policy = RolloutPolicy(weights={1: 50, 2: 50})
    fruit = [choose_version(policy, "fruit", key) for key in KEYS]
    veg = [choose_version(policy, "veg", key) for key in KEYS]
    agree = sum(f == v for f, v in zip(fruit, veg, strict=True)) / len(KEYS)
    assert 0.45 <= agree <= 0.55, "one name's split does not decide another's"
    rng = random.Random(7)
    unkeyed = [choose_version(policy, "fruit", "", rng) for _ in range(2000)]
    assert 0.45 <= unkeyed.count(1) / 2000 <= 0.55


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ({3: 100}, "2 to 8 versions"),
        ({3: 90, 4: 20}, "add up to 100"),
        ({3: 100, 4: 0}, "must be 1 to 99"),
        ({-1: 50, 4: 50}, "not a version number"),
        ({}, "a split .weights. or a shadow"),
        ({i: 10 for i in range(1, 11)}, "2 to 8 versions"),
    ],
)
def test_bad_splits_are_refused(weights, words):
    with pytest.raises(ValidationError, match=words):
        RolloutPolicy(weights=weights)


def test_a_shadow_needs_no_split_and_cannot_also_be_an_arm():
    shadow = RolloutPolicy(shadow=5)
    assert choose_version(shadow, "fruit", "user-1") is None, "no split: the serving version answers"
    assert shadow.versions == [5] and shadow.describe() == "shadow=5"
    both = RolloutPolicy(weights={0: 50, 3: 50}, shadow=4)
    assert both.versions == [0, 3, 4] and both.describe() == "0=50 3=50 shadow=4"
    assert both.without_split() == RolloutPolicy(shadow=4, started_at=both.started_at)
    assert RolloutPolicy(weights={3: 50, 4: 50}).without_split() is None
    with pytest.raises(ValidationError, match="both an arm"):
        RolloutPolicy(weights={3: 50, 4: 50}, shadow=4)


def test_the_stored_form_round_trips_in_version_order():
    policy = RolloutPolicy(weights={4: 10, 3: 90})
    assert list(policy.weights) == [3, 4] and policy.describe() == "3=90 4=10"
    assert RolloutPolicy.from_json(policy.to_json()) == policy
