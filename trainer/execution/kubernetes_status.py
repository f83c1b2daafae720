"""What a training Job and its pods say about a job, and what the executor does about it: pure
functions of the API's objects (as plain dicts) and the job's record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.execution.executor import Phase, RunEnded
from trainer.jobs.records import JobState
from trainer.jobs.run_job import Outcome


@dataclass(frozen=True)
class ClusterView:
    """One training Job as the cluster sees it."""

    exists: bool
    suspended: bool = False
    finished: str = ""  # "", "Complete" or "Failed"
    failure: str = ""  # the Failed condition's reason and message
    pod_phase: str = ""  # the newest pod's phase: Pending, Running, Succeeded, Failed; "" before one exists
    pod_reason: str = ""  # why that pod waits or ended: Unschedulable, ImagePullBackOff, OOMKilled (exit 137), ...
    pod_name: str = ""

    def note(self) -> str:
        """One line for the job's events: where the Job stands."""
        if not self.exists:
            return "no Job"
        if self.finished:
            return f"Job {self.finished.lower()}" + (f" ({self.failure})" if self.failure else "")
        if self.suspended:
            return "Job waiting for its queue to admit it"
        if not self.pod_phase:
            return "Job created, no pod yet"
        return f"pod {self.pod_phase}" + (f" ({self.pod_reason})" if self.pod_reason else "")


def _condition(conditions: list[dict[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    for condition in conditions or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def pod_reason(pod: dict[str, Any]) -> str:
    """Why a pod is not (or no longer) running, from its container and scheduling state."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if state.get("waiting"):
            waiting = state["waiting"]
            return str(waiting.get("reason") or "waiting") + (f": {waiting['message'][:200]}" if waiting.get("message") else "")
        if state.get("terminated"):
            ended = state["terminated"]
            return f"{ended.get('reason') or 'terminated'}, exit code {ended.get('exitCode')}"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("reason") or "not scheduled") + (f": {condition['message'][:200]}" if condition.get("message") else "")
    return str(status.get("reason") or "")


def cluster_view(job: dict[str, Any] | None, pods: list[dict[str, Any]]) -> ClusterView:
    """The view of a Job (None: there is none) and the pods it made."""
    if job is None:
        return ClusterView(exists=False)
    spec, status = job.get("spec") or {}, job.get("status") or {}
    conditions = status.get("conditions")
    finished, failure = "", ""
    if (failed := _condition(conditions, "Failed")) is not None:
        finished, failure = "Failed", f"{failed.get('reason', '')}: {failed.get('message', '')}".strip(": ")
    elif _condition(conditions, "Complete") is not None:
        finished = "Complete"
    newest = max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", default=None)
    return ClusterView(
        exists=True,
        suspended=bool(spec.get("suspend")),
        finished=finished,
        failure=failure,
        pod_phase=str(((newest or {}).get("status") or {}).get("phase") or ""),
        pod_reason=pod_reason(newest) if newest is not None else "",
        pod_name=str(((newest or {}).get("metadata") or {}).get("name") or ""),
    )


@dataclass(frozen=True)
class Reconciled:
    """What to do about one job: create its Job again, or delete it, or learn that its run ended."""

    phase: Phase | None = None
    create: bool = False  # the Job is gone while the job still needs it: create it again
    delete: bool = False  # the Job is no longer wanted: delete it and its pods
    ended: RunEnded | None = None  # the run is over: tell the runner


def reconcile(job_id: str, state: JobState, cancel_requested: bool, cluster: ClusterView) -> Reconciled:
    """Compares the job's record with its Job."""
    if not cluster.exists:
        if state.terminal:
            return Reconciled(ended=RunEnded(job_id, Outcome.CONCLUDED))
        if cancel_requested:
            return Reconciled(ended=RunEnded(job_id, Outcome.STOPPED))
        return Reconciled(phase="admitted", create=True)  # deleted by someone: resume in a new one
    if cluster.finished == "Complete":
        if state.terminal:
            return Reconciled(ended=RunEnded(job_id, Outcome.CONCLUDED))
        return Reconciled(ended=RunEnded(job_id, None, "the Job completed without recording an outcome", retried=True))
    if cluster.finished == "Failed":
        if state.terminal:
            return Reconciled(ended=RunEnded(job_id, Outcome.CONCLUDED))
        reason = f"the Kubernetes Job failed ({cluster.failure or 'no reason given'})"
        if cluster.pod_reason:
            reason += f"; its last pod: {cluster.pod_reason}"
        return Reconciled(ended=RunEnded(job_id, None, reason, retried=True))
    running = cluster.pod_phase == "Running" and not cluster.suspended
    if state is JobState.CANCELLED:  # the run recorded the cancel: its pod may stop now
        return Reconciled(delete=True, ended=RunEnded(job_id, Outcome.CONCLUDED))
    if cancel_requested and not running:  # nothing runs to see the cancel: it is the Job's to end
        return Reconciled(delete=True, ended=RunEnded(job_id, Outcome.STOPPED))
    return Reconciled(phase="running" if running else "admitted")
