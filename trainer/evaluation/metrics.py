"""The metrics of an evaluation, as pure functions of answers and references (no model here).

Classification: per-label precision, recall, F1 and support, macro-F1, the confusion matrix and
the expected calibration error of the chosen label's probability. Generation: exact match, token
F1, length relative to the reference (verbosity), the share of repeated n-grams, and empty or
truncated answers.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel

CALIBRATION_BINS = 10
REPEAT_NGRAM = 3


class LabelMetrics(BaseModel):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


def normalize(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return float(pred == ref)
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def confusion_matrix(labels: Sequence[str], truth: Sequence[str], predicted: Sequence[str]) -> list[list[int]]:
    """Row i, column j: examples of label i answered as label j."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    return matrix


def per_label(labels: Sequence[str], matrix: list[list[int]]) -> list[LabelMetrics]:
    rows = []
    for i, label in enumerate(labels):
        true_positive = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(LabelMetrics(label=label, precision=precision, recall=recall, f1=f1, support=support))
    return rows


def macro_f1(rows: Sequence[LabelMetrics]) -> float:
    """Mean F1 over the labels that occur in the holdout."""
    present = [r.f1 for r in rows if r.support]
    return sum(present) / len(present) if present else 0.0


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    if not confidences:
        return 0.0
    total = len(confidences)
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low < c <= high or (b == 0 and c == 0.0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            confidence = sum(confidences[i] for i in members) / len(members)
            error += len(members) / total * abs(accuracy - confidence)
    return error


def repetition_rate(text: str, n: int = REPEAT_NGRAM) -> float:
    """Share of the text's word n-grams that already occurred earlier in it."""
    words = normalize(text).split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1 - len(set(grams)) / len(grams)


def length_ratio(prediction: str, reference: str) -> float:
    """Words of the answer per word of the reference (> 1: more verbose)."""
    return len(normalize(prediction).split()) / max(1, len(normalize(reference).split()))
