"""Statistics of an experiment's arms, as pure functions: proportions with confidence intervals,
the test of two proportions, percentiles, and how alike two answers are."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) with no trials.

    Wilson's rather than the normal approximation because arms are often small and accuracies
    near 1, where the normal interval leaves [0, 1] and covers too little."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """Two-sided p-value of the pooled z-test that two proportions are equal; 1.0 when either arm is empty."""
    if trials_a <= 0 or trials_b <= 0:
        return 1.0
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if spread == 0:
        return 1.0  # both arms all right or all wrong: no evidence of a difference
    z = (successes_a / trials_a - successes_b / trials_b) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between order statistics; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


_WORD = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Lower-cased words: what token F1 and exact match compare (SQuAD's normalisation, less articles)."""
    return _WORD.findall(text.lower())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of word precision and recall between two answers; 1.0 when both are empty."""
    predicted, expected = tokens(prediction), tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def same_answer(output: str, label: str) -> bool:
    """Whether an answer is the expected label, ignoring case, surrounding space and final punctuation."""
    return output.strip().strip(".!").casefold() == label.strip().strip(".!").casefold()
