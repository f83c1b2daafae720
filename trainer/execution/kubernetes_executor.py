"""Runs each job as a batch/v1 Job through the official Kubernetes client.

Creating is idempotent (the Job's name is the job's), so a trainer that restarts, or another
replica that takes a job's lease over, adopts the Job it finds instead of starting a second run.
A thread looks at every Job this replica watches each `kubernetes_poll_s`, writes a job event
when its Job or pod changes (pod Pending (Unschedulable: ...), pod Running, ...), and applies
kubernetes_status.reconcile: a failed Job without an outcome fails the job with the pod's reason,
a cancelled job's Job is deleted, a Job deleted by someone is created again. The API calls are
the only part of the executor that needs a cluster; everything they feed is pure and tested.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from trainer.config import JobConfig, TrainerSettings
from trainer.execution.executor import ExitHandler, PhaseHandler
from trainer.execution.kubernetes_job import JobPolicy, job_name, load_template, render_job
from trainer.execution.kubernetes_status import cluster_view, reconcile
from trainer.jobs.records import JobStore

log = logging.getLogger(__name__)

# What the executor does through the API, and all the chart's Role grants (a test holds them equal):
# (API group, resource) -> verbs
PERMISSIONS = {
    ("batch", "jobs"): ["create", "get", "delete"],
    ("", "pods"): ["list"],
    ("", "pods/log"): ["get"],  # the last lines of a failed pod, into the job's events
}
_LOG_LINES = 20
_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace() -> str:
    """The namespace of the pod this runs in (its service account says), else "default"."""
    try:
        return _NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


def job_policy(settings: TrainerSettings, namespace: str) -> JobPolicy:
    return JobPolicy(namespace, settings.job_retries, settings.job_deadline_s, settings.job_ttl_s, settings.kueue_queue)


def manifest_for(settings: TrainerSettings, template: dict[str, Any], job_id: str, config: JobConfig, namespace: str) -> dict[str, Any]:
    """The Job of one training job under these settings."""
    gpus = config.gpus if config.gpus is not None else settings.job_gpus
    return render_job(template, job_id, config.adapter_name, gpus, job_policy(settings, namespace))


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(self, settings: TrainerSettings, jobs: JobStore, on_exit: ExitHandler, on_phase: PhaseHandler) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:  # outside a cluster: the operator's kubeconfig
            config.load_kube_config()
        self.batch = client.BatchV1Api()
        self.core = client.CoreV1Api()
        self.api = client.ApiClient()
        self.settings = settings
        self.jobs = jobs
        self.on_exit = on_exit
        self.on_phase = on_phase
        assert settings.kubernetes_job_template is not None  # the settings refuse kubernetes without one
        self.template = load_template(settings.kubernetes_job_template)
        self.namespace = settings.kubernetes_namespace or own_namespace()
        self._watched: dict[str, str] = {}  # job id -> the last note its events got
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._poller = threading.Thread(target=self._poll, name="tuneserve-kubernetes-jobs", daemon=True)
        self._poller.start()

    def _create(self, job_id: str) -> bool:
        """Creates the job's Job; False when it exists already (adopted)."""
        from kubernetes.client.exceptions import ApiException

        config = JobConfig.model_validate(self.jobs.get(job_id).config)
        manifest = manifest_for(self.settings, self.template, job_id, config, self.namespace)
        try:
            self.batch.create_namespaced_job(self.namespace, manifest)  # type: ignore[arg-type]  # a dict is sent as it is
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def start(self, job_id: str) -> str:
        name = job_name(job_id)
        created = self._create(job_id)
        text = f"created Kubernetes Job {name} in {self.namespace}" if created else f"adopted Kubernetes Job {name}, already there"
        self.jobs.add_event(job_id, "message", {"text": text})
        with self._lock:
            self._watched[job_id] = ""
        self.on_phase(job_id, "admitted", "")
        self._wake.set()
        return f"Job {self.namespace}/{name}"

    def cancel(self, job_id: str) -> None:
        self._wake.set()  # look now: a Job that has not started is deleted at once

    def stop(self, timeout: float) -> None:
        """The Jobs keep running; the replica that takes their leases over adopts them."""
        self._stopping = True
        self._wake.set()
        self._poller.join(timeout)

    def _poll(self) -> None:
        while not self._stopping:
            with self._lock:
                watched = list(self._watched)
            for job_id in watched:
                try:
                    self._look(job_id)
                except Exception as exc:  # the API server away for a moment: look again next time
                    log.warning("could not look at a training Job", extra={"job": job_id, "error": str(exc).splitlines()[0][:300]})
            self._wake.wait(self.settings.kubernetes_poll_s)
            self._wake.clear()

    def _read(self, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        from kubernetes.client.exceptions import ApiException

        try:
            job = self.api.sanitize_for_serialization(self.batch.read_namespaced_job(name, self.namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None, []
            raise
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"batch.kubernetes.io/job-name={name}")
        return job, [self.api.sanitize_for_serialization(pod) for pod in pods.items]

    def _look(self, job_id: str) -> None:
        name = job_name(job_id)
        job, pods = self._read(name)
        record = self.jobs.get(job_id)
        view = cluster_view(job, pods)
        decision = reconcile(job_id, record.state, record.cancel_requested, view)
        note = view.note()
        with self._lock:
            changed = self._watched.get(job_id) != note
            self._watched[job_id] = note
        if changed:
            self.jobs.add_event(job_id, "message", {"text": f"Kubernetes Job {name}: {note}"})
        if decision.create:
            self._create(job_id)
        if decision.delete:
            self.batch.delete_namespaced_job(name, self.namespace, propagation_policy="Background")
        if decision.phase is not None:
            self.on_phase(job_id, decision.phase, "")
        if decision.ended is not None and decision.ended.outcome is None and view.pod_name:
            self._record_log(job_id, view.pod_name)
        if decision.ended is not None:
            with self._lock:
                self._watched.pop(job_id, None)
            self.on_exit(decision.ended)

    def _record_log(self, job_id: str, pod: str) -> None:
        """The last lines a failed run printed, for whoever reads the job's events."""
        try:
            text = self.core.read_namespaced_pod_log(pod, self.namespace, container="train", tail_lines=_LOG_LINES)
        except Exception as exc:  # gone with its node, say: the failure reason stands on its own
            log.info("could not read a failed pod's log", extra={"pod": pod, "error": str(exc).splitlines()[0][:200]})
            return
        self.jobs.add_event(job_id, "message", {"text": f"last lines of pod {pod}:\n{str(text)[-4000:]}"})
