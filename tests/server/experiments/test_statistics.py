"""Experiment statistics against textbook values and direct computation."""

from __future__ import annotations

import math
import random

import pytest

from server.experiments.stats import percentile, same_answer, token_f1, two_proportion_p_value, wilson_interval


def test_the_wilson_interval_matches_its_textbook_value_and_stays_inside_0_1():
    low, high = wilson_interval(81, 263)  # Newcombe (1998), example: 81 of 263 -> 0.2553 to 0.3662
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0) and 0.65 < wilson_interval(10, 10)[0] < 0.75
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_the_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = random.Random(3)
    covered = 0
    for _ in range(2000):
        hits = sum(rng.random() < 0.8 for _ in range(60))
        low, high = wilson_interval(hits, 60)
        covered += low <= 0.8 <= high
    assert 0.93 <= covered / 2000 <= 0.97


def test_the_two_proportion_test_matches_a_direct_z_computation():
    # 90/100 against 75/100: pooled 0.825, z = 0.15 / sqrt(0.825 * 0.175 * 0.02) = 2.793
    z = 0.15 / math.sqrt(0.825 * 0.175 * 0.02)
    assert two_proportion_p_value(90, 100, 75, 100) == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert two_proportion_p_value(90, 100, 75, 100) == pytest.approx(0.00522, abs=1e-4)
    assert two_proportion_p_value(50, 100, 50, 100) == 1.0
    assert two_proportion_p_value(5, 5, 5, 5) == 1.0 and two_proportion_p_value(1, 2, 0, 0) == 1.0


def test_percentiles_interpolate_like_numpy():
    values = [12.0, 3.0, 7.0, 1.0, 9.0]
    assert percentile(values, 50) == 7.0
    assert percentile(values, 95) == pytest.approx(11.4)  # numpy.percentile(values, 95)
    assert percentile([], 50) == 0.0


def test_answers_compare_without_case_space_or_final_punctuation():
    assert same_answer(" Positive.", "positive") and not same_answer("positive", "negative")
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a red apple", "red apple pie") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
