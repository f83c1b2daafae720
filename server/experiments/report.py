"""The experiment report of an adapter name, computed from recorded answers and feedback: per arm,
requests, errors, latency, answer distribution, feedback, accuracy with its confidence interval and
its difference from the control arm; shadow arms also compared answer by answer with what callers got.
Pure functions of the rows, so the figures can be checked against a direct computation."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.rollout import RolloutPolicy
from server.experiments.stats import percentile, same_answer, token_f1, two_proportion_p_value, wilson_interval
from server.experiments.store import SERVE, SHADOW, Outcome

SIGNIFICANCE = 0.05
TOP_OUTPUTS = 10
OUTPUT_CHARS = 64


@dataclass
class ArmReport:
    version: int
    role: str  # "control", "canary" (another arm of the split), "shadow", or "serving" outside a split
    percent: int  # share of bare-name traffic; 0 for a shadow
    requests: int = 0
    errors: int = 0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    outputs: dict[str, int] = field(default_factory=dict)  # the most frequent answers (labels) and their counts
    labelled: int = 0  # answers with a correct label in feedback
    correct: int = 0
    accuracy: float = 0.0
    accuracy_low: float = 0.0  # 95% Wilson interval
    accuracy_high: float = 1.0
    accuracy_p_value: float = 1.0  # two-proportion test against the control; 1.0 for the control itself
    significant: bool = False
    thumbs_up: int = 0
    thumbs_down: int = 0
    ratings: int = 0
    mean_rating: float = 0.0
    compared: int = 0  # shadow only: requests answered by both the shadow and the serving arm
    agreement: float = 0.0  # shadow only: share of those with the same answer
    mean_token_f1: float = 0.0  # shadow only: word overlap with the served answer

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def control_version(policy: RolloutPolicy | None, serving_version: int) -> int:
    """The arm the others are compared with: the serving version when it is in the split, else the largest arm."""
    if policy is None or not policy.weights:
        return serving_version
    if serving_version in policy.weights:
        return serving_version
    return max(policy.weights, key=lambda v: (policy.weights[v], -v))


def _role(version: int, policy: RolloutPolicy | None, control: int) -> str:
    if policy is not None and version == policy.shadow:
        return "shadow"
    if policy is None or not policy.weights:
        return "serving"
    return "control" if version == control else "canary"


def _arm(version: int, role: str, percent: int, rows: Sequence[Outcome]) -> ArmReport:
    arm = ArmReport(version, role, percent, requests=len(rows), errors=sum(not r.ok for r in rows))
    answered = [r for r in rows if r.ok]
    latencies = [r.latency_ms for r in answered]
    arm.latency_p50_ms, arm.latency_p95_ms = percentile(latencies, 50), percentile(latencies, 95)
    arm.outputs = dict(Counter(r.output[:OUTPUT_CHARS] for r in answered).most_common(TOP_OUTPUTS))
    labelled = [r for r in answered if r.label is not None]
    arm.labelled, arm.correct = len(labelled), sum(same_answer(r.output, r.label or "") for r in labelled)
    arm.accuracy = arm.correct / arm.labelled if arm.labelled else 0.0
    arm.accuracy_low, arm.accuracy_high = wilson_interval(arm.correct, arm.labelled)
    if role != "shadow":  # thumbs and ratings judge the answer the caller saw
        arm.thumbs_up = sum(r.thumb == 1 for r in rows)
        arm.thumbs_down = sum(r.thumb == -1 for r in rows)
        rated = [r.rating for r in rows if r.rating]
        arm.ratings = len(rated)
        arm.mean_rating = sum(rated) / len(rated) if rated else 0.0
    return arm


def build_report(outcomes: Sequence[Outcome], policy: RolloutPolicy | None, serving_version: int) -> list[ArmReport]:
    """One report per arm that answered (and per arm of the policy, answered or not), control first."""
    control = control_version(policy, serving_version)
    by_version: dict[tuple[str, int], list[Outcome]] = defaultdict(list)
    for row in outcomes:
        by_version[row.role, row.version].append(row)
    versions = {v for role, v in by_version if role == SERVE} | set(policy.weights if policy else ())
    if control:
        versions.add(control)
    weights = policy.weights if policy else {}
    arms = [_arm(v, _role(v, policy, control), weights.get(v, 0), by_version.get((SERVE, v), [])) for v in sorted(versions)]
    arms.sort(key=lambda a: (a.role != "control", a.role != "serving", a.version))
    reference = next((a for a in arms if a.version == control), None)
    for arm in arms:
        if reference is not None and arm is not reference:
            arm.accuracy_p_value = two_proportion_p_value(arm.correct, arm.labelled, reference.correct, reference.labelled)
            arm.significant = arm.accuracy_p_value < SIGNIFICANCE
    shadows = {v for role, v in by_version if role == SHADOW} | ({policy.shadow} if policy and policy.shadow else set())
    served = {r.request_id: r for r in outcomes if r.role == SERVE and r.ok}
    for version in sorted(shadows):
        rows = by_version.get((SHADOW, version), [])
        arm = _arm(version, "shadow", 0, rows)
        pairs = [(r, served[r.request_id]) for r in rows if r.ok and r.request_id in served]
        arm.compared = len(pairs)
        if pairs:
            arm.agreement = sum(same_answer(s.output, v.output) for s, v in pairs) / len(pairs)
            arm.mean_token_f1 = sum(token_f1(s.output, v.output) for s, v in pairs) / len(pairs)
        if reference is not None:
            arm.accuracy_p_value = two_proportion_p_value(arm.correct, arm.labelled, reference.correct, reference.labelled)
            arm.significant = arm.accuracy_p_value < SIGNIFICANCE
        arms.append(arm)
    return arms
