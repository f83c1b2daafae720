"""The guard rule as a pure function: whether a canary does worse than the control arm."""

from __future__ import annotations

from common.rollout import GuardRule
from server.experiments.report import SIGNIFICANCE, ArmReport


def guard_verdict(rule: GuardRule, control: ArmReport, canary: ArmReport) -> str | None:
    """Why the canary must be rolled back, or None while it holds (or has too few samples to judge)."""
    if control.requests >= rule.min_samples and canary.requests >= rule.min_samples:
        increase = canary.error_rate - control.error_rate
        if increase > rule.max_error_rate_increase:
            return (
                f"version {canary.version} failed {canary.error_rate:.1%} of {canary.requests} requests, "
                f"version {control.version} {control.error_rate:.1%} (at most {rule.max_error_rate_increase:.0%} more allowed)"
            )
        if control.latency_p50_ms > 0 and canary.latency_p50_ms > rule.max_latency_ratio * control.latency_p50_ms:
            return (
                f"version {canary.version}'s median latency {canary.latency_p50_ms:.0f} ms is over "
                f"{rule.max_latency_ratio:g}x version {control.version}'s {control.latency_p50_ms:.0f} ms"
            )
    if control.labelled >= rule.min_samples and canary.labelled >= rule.min_samples:
        drop = control.accuracy - canary.accuracy
        if drop > rule.max_accuracy_drop and canary.accuracy_p_value < SIGNIFICANCE:
            return (
                f"version {canary.version} was right on {canary.accuracy:.1%} of {canary.labelled} labelled answers, "
                f"version {control.version} on {control.accuracy:.1%} (p = {canary.accuracy_p_value:.2g})"
            )
    return None
