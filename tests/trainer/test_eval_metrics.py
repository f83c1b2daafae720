"""Evaluation metrics as pure functions, checked against figures worked out by hand."""

from __future__ import annotations

import pytest

from trainer.evaluation.holdout import Answers, error_examples
from trainer.evaluation.metrics import (
    confusion_matrix,
    expected_calibration_error,
    length_ratio,
    macro_f1,
    per_label,
    repetition_rate,
)

LABELS = ["pos", "neg", "neu"]
TRUTH = ["pos", "pos", "pos", "neg", "neg", "neu"]
ANSWERED = ["pos", "pos", "neg", "neg", "pos", "pos"]


def test_confusion_matrix_and_per_label_metrics():
    matrix = confusion_matrix(LABELS, TRUTH, ANSWERED)
    assert matrix == [[2, 1, 0], [1, 1, 0], [1, 0, 0]]
    rows = {r.label: r for r in per_label(LABELS, matrix)}
    # pos: 2 right of 4 answered pos, 2 of 3 true pos
    assert rows["pos"].precision == pytest.approx(0.5) and rows["pos"].recall == pytest.approx(2 / 3)
    assert rows["pos"].f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) and rows["pos"].support == 3
    assert rows["neg"].precision == pytest.approx(0.5) and rows["neg"].recall == pytest.approx(0.5)
    assert rows["neu"].precision == 0.0 and rows["neu"].f1 == 0.0 and rows["neu"].support == 1
    assert macro_f1(list(rows.values())) == pytest.approx((rows["pos"].f1 + 0.5 + 0.0) / 3)


def test_macro_f1_ignores_labels_absent_from_the_holdout():
    rows = per_label(["a", "b", "c"], confusion_matrix(["a", "b", "c"], ["a", "b"], ["a", "b"]))
    assert macro_f1(rows) == 1.0


def test_expected_calibration_error():
    # two bins used: 0.9 (2 examples, 1 right -> |0.5 - 0.9|) and 0.6 (2 examples, 2 right -> |1 - 0.6|)
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, True]) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([], []) == 0.0


def test_verbosity_and_repetition():
    assert length_ratio("one two three four", "one two") == 2.0
    assert length_ratio("", "one") == 0.0
    assert repetition_rate("a b c a b c a b c") == pytest.approx(1 - 3 / 7)
    assert repetition_rate("no repeats in this sentence at all") == 0.0
    assert repetition_rate("too short") == 0.0


def test_error_examples_are_sorted_by_what_the_adapter_changed_and_bounded():
    from trainer.training.data import Example

    holdout = [Example(line=i + 1, input=f"x{i}", output="a") for i in range(40)]
    right, wrong = "a", "b"
    zero = Answers([wrong] * 40, [False] * 40, [False] * 40)
    icl = Answers([right if i % 2 else wrong for i in range(40)], [bool(i % 2) for i in range(40)], [False] * 40)
    tuned = Answers([right if i < 20 else wrong for i in range(40)], [i < 20 for i in range(40)], [False] * 40)
    sample = error_examples(holdout, zero, icl, tuned, generation=False, per_category=4)
    by_category: dict[str, list[int]] = {}
    for example in sample:
        by_category.setdefault(example.category, []).append(example.line)
    assert by_category["fixed"] == [1, 3, 5, 7]  # adapter right, k-shot wrong
    assert by_category["broken"] == [22, 24, 26, 28]  # k-shot right, adapter wrong
    assert by_category["wrong_all"] == [21, 23, 25, 27]
    assert by_category["other"] == [2, 4, 6, 8]  # adapter and k-shot right, zero-shot wrong
    long_answer = Answers(["word " * 400], [False], [True])
    [example] = error_examples(holdout[:1], long_answer, long_answer, long_answer, generation=True)
    assert len(example.adapter) <= 600 and {"truncated", "verbose", "repetitive"} <= set(example.tags)
