"""The batch/v1 Job that runs one training job: rendered here, by the one function the executor
uses and the tests validate.

It starts from the pod template the chart writes (image, settings, volumes, service account,
node selector, tolerations, resources) and adds what is the job's own:
- its name, `tuneserve-train-<job id>`, so creating it twice is refused by the API server: a
  restarted trainer adopts the Job it finds instead of starting a second run;
- the command of trainer.jobs.run_job (torchrun over it when the job asks for more than one GPU);
- the GPUs the job asks for (`nvidia.com/gpu` limits);
- `backoffLimit` (deaths survived), a pod failure policy under which a disruption (preemption, a
  node drain, Kueue taking the quota back) and a run stopped by SIGTERM (exit 75) are not counted
  as failures, `podReplacementPolicy: Failed` so a retry starts only once the last pod is gone,
  `activeDeadlineSeconds` and `ttlSecondsAfterFinished`;
- owner labels, and the Kueue queue label with `suspend: true` when a queue is set, so Kueue
  admits the Job against quota.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trainer.jobs.run_job import EXIT_STOPPED, command

CONTAINER = "train"
MANAGED_BY = "tuneserve-trainer"
JOB_ID_LABEL = "tuneserve.dev/job-id"
ADAPTER_LABEL = "tuneserve.dev/adapter"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class JobPolicy:
    """What every training Job shares, from the trainer's settings."""

    namespace: str
    retries: int
    deadline_s: int
    ttl_s: int
    queue: str = ""


def job_name(job_id: str) -> str:
    """The Job's name: a DNS label made from the job id (job-<12 hex>), the same every time."""
    name = re.sub(r"[^a-z0-9-]", "-", f"tuneserve-train-{job_id}".lower())[:63]
    return name.rstrip("-")


def label_value(text: str) -> str:
    """`text` as a label value (63 characters of [A-Za-z0-9._-], alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:63]
    return value.strip("._-")


def load_template(path: Path) -> dict[str, Any]:
    """The pod template the chart wrote; refused with a reason when it cannot be one."""
    template = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        raise ValueError(f"{path}: a pod template needs a spec")
    containers = template["spec"].get("containers")
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        raise ValueError(f"{path}: the pod template needs spec.containers; the first one trains")
    return template


def render_job(template: dict[str, Any], job_id: str, adapter_name: str, gpus: int, policy: JobPolicy) -> dict[str, Any]:
    """The Job manifest for one training job (a dict the API client sends as it is)."""
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/component": "training-job",
        JOB_ID_LABEL: label_value(job_id),
        ADAPTER_LABEL: label_value(adapter_name),
    }
    job_labels = {**labels, **({KUEUE_QUEUE_LABEL: policy.queue} if policy.queue else {})}
    pod = copy.deepcopy(template)
    pod_metadata = pod.setdefault("metadata", {})
    pod_metadata["labels"] = {**pod_metadata.get("labels", {}), **labels}
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"  # retries are the Job's, counted by its failure policy
    container = spec["containers"][0]
    container["name"] = CONTAINER
    container["command"] = command(job_id, max(1, gpus), "python")  # the image's python
    container.pop("args", None)
    if gpus:
        resources = container.setdefault("resources", {})
        resources.setdefault("limits", {})[GPU_RESOURCE] = gpus
        resources.setdefault("requests", {})[GPU_RESOURCE] = gpus
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(job_id),
            "namespace": policy.namespace,
            "labels": job_labels,
            "annotations": {JOB_ID_LABEL: job_id, ADAPTER_LABEL: adapter_name},
        },
        "spec": {
            **({"suspend": True} if policy.queue else {}),
            "backoffLimit": policy.retries,
            "activeDeadlineSeconds": policy.deadline_s,
            "ttlSecondsAfterFinished": policy.ttl_s,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {
                "rules": [
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                    {"action": "Ignore", "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [EXIT_STOPPED]}},
                ]
            },
            "template": pod,
        },
    }
