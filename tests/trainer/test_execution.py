"""The executors' decisions as pure functions: what an exit means, when a run is retried or the job
failed, what Job is created for a training job, and what a Job's and pod's state mean for it. No
cluster is started or faked: the Job manifests are validated against the Kubernetes schemas, and
the run entry point itself is exercised through the process executor (test_process_executor)."""

from __future__ import annotations

import signal
import subprocess

import pytest
import yaml

from tests.tools import tool
from trainer.execution.decisions import Action, after_run, exit_meaning
from trainer.execution.executor import RunEnded
from trainer.execution.kubernetes_job import JobPolicy, job_name, label_value, render_job
from trainer.execution.kubernetes_status import cluster_view, pod_reason, reconcile
from trainer.execution.process_executor import child_threads
from trainer.jobs.records import JobState
from trainer.jobs.run_job import EXIT_STOPPED, Outcome, command

# -- exits and retries ---------------------------------------------------------------------------


def test_exit_codes_say_concluded_stopped_or_died_and_how():
    assert exit_meaning(0) == (Outcome.CONCLUDED, "")
    assert exit_meaning(EXIT_STOPPED) == (Outcome.STOPPED, "")
    assert exit_meaning(-signal.SIGKILL) == (None, "killed by SIGKILL")
    assert exit_meaning(1) == (None, "exited with code 1")
    assert exit_meaning(137)[0] is None and "signal, 9" in exit_meaning(137)[1]


def died(reason: str = "killed by SIGKILL", retried: bool = False) -> RunEnded:
    return RunEnded("job-1", None, reason, retried)


@pytest.mark.parametrize(
    "ended, state, cancel, attempts, stopping, lost, action, attempts_after",
    [
        (RunEnded("job-1", Outcome.CONCLUDED), JobState.SUCCEEDED, False, 0, False, False, Action.NOTHING, 0),
        (died(), JobState.RUNNING, False, 0, False, False, Action.REQUEUE, 1),  # first death: resumes
        (died(), JobState.RUNNING, False, 2, False, False, Action.REQUEUE, 3),  # the last retry
        (died(), JobState.RUNNING, False, 3, False, False, Action.FAIL, 4),  # retries spent
        (died(), JobState.RUNNING, True, 0, False, False, Action.CANCEL, 0),  # died while cancelled
        (died(), JobState.SUCCEEDED, False, 0, False, False, Action.NOTHING, 0),  # recorded, then died
        (died(), JobState.RUNNING, False, 0, True, False, Action.REQUEUE, 0),  # the trainer stopping: not counted
        (died(), JobState.RUNNING, False, 0, False, True, Action.NOTHING, 0),  # another replica has it
        (RunEnded("job-1", Outcome.STOPPED), JobState.RUNNING, False, 1, False, False, Action.REQUEUE, 1),  # stops don't count
        (RunEnded("job-1", Outcome.STOPPED), JobState.RUNNING, True, 0, False, False, Action.CANCEL, 0),
        (died("the Kubernetes Job failed (DeadlineExceeded)", True), JobState.RUNNING, False, 0, False, False, Action.FAIL, 1),
    ],
)
def test_what_becomes_of_a_job_when_its_run_ends(ended, state, cancel, attempts, stopping, lost, action, attempts_after):
    decision = after_run(ended, state, cancel, attempts, retries=3, stopping=stopping, lost=lost)
    assert (decision.action, decision.attempts) == (action, attempts_after)


def test_the_reasons_a_job_fails_or_resumes_with_say_what_happened():
    again = after_run(died(), JobState.RUNNING, False, 0, 3, False, False)
    assert "killed by SIGKILL" in again.message and "resumes from its last checkpoint" in again.message and "retry 1 of 3" in again.message
    final = after_run(died("exited with code 1"), JobState.RUNNING, False, 3, 3, False, False)
    assert final.message == "the training run died 4 times without an outcome; last: exited with code 1"
    cluster = after_run(died("the Kubernetes Job failed (BackoffLimitExceeded)", True), JobState.RUNNING, False, 0, 3, False, False)
    assert cluster.message == "the Kubernetes Job failed (BackoffLimitExceeded)"


def test_child_commands_and_their_share_of_the_cores(tmp_path):
    from trainer.config import TrainerSettings

    assert command("job-1", 1, "py") == ["py", "-m", "trainer.jobs.run_job", "job-1"]
    assert command("job-1", 4, "py")[:5] == ["py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4"]
    settings = TrainerSettings(work_dir=tmp_path, max_concurrent_jobs=2)
    assert child_threads(settings, 16) == 8 and child_threads(settings, 1) == 1
    assert child_threads(settings.model_copy(update={"torch_threads": 3}), 16) == 3


def test_kubernetes_needs_a_pod_template_and_a_shared_database(tmp_path):
    from pydantic import ValidationError

    from trainer.config import TrainerSettings

    with pytest.raises(ValidationError, match="kubernetes_job_template"):
        TrainerSettings(work_dir=tmp_path, executor="kubernetes", database_url="postgresql://u@db/t")
    with pytest.raises(ValidationError, match="PostgreSQL database_url"):
        TrainerSettings(work_dir=tmp_path, executor="kubernetes", kubernetes_job_template=tmp_path / "pod.yaml")
    with pytest.raises(ValidationError, match="job_store"):
        TrainerSettings(work_dir=tmp_path, job_store="s3://A_B/x")


# -- the Job of a training job -------------------------------------------------------------------

POLICY = JobPolicy(namespace="ml", retries=3, deadline_s=86400, ttl_s=3600)
TEMPLATE = {
    "metadata": {"labels": {"app.kubernetes.io/name": "tuneserve"}},
    "spec": {
        "serviceAccountName": "tuneserve",
        "automountServiceAccountToken": False,
        "containers": [{"name": "train", "image": "tuneserve:0.1.0-cuda", "resources": {"limits": {"memory": "16Gi"}}}],
    },
}


def kubernetes_validate(manifest: dict, version: str | None = None) -> subprocess.CompletedProcess:
    command = [tool("kubernetes-validate"), "--strict", "--quiet", *(["-k", version] if version else []), "-"]
    return subprocess.run(command, input=yaml.safe_dump(manifest), capture_output=True, text=True, timeout=120)


def test_a_job_is_named_by_its_training_job_so_creating_it_twice_is_refused():
    assert job_name("job-0123456789ab") == "tuneserve-train-job-0123456789ab" == job_name("job-0123456789ab")
    assert job_name("job-0123456789ab") != job_name("job-0123456789ac")
    assert label_value("support/tickets v2!") == "support_tickets_v2" and len(label_value("x" * 100)) == 63


def test_the_job_runs_the_entry_point_with_its_gpus_policy_and_labels():
    job = render_job(TEMPLATE, "job-0123456789ab", "sentiment", 2, POLICY)
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == command("job-0123456789ab", 2, "python")
    assert container["command"][-3:] == ["-m", "trainer.jobs.run_job", "job-0123456789ab"] and "--nproc-per-node=2" in container["command"]
    assert container["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 2}
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (3, 86400, 3600)
    assert spec["podReplacementPolicy"] == "Failed", "a retry starts only once the last pod is gone"
    rules = spec["podFailurePolicy"]["rules"]
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]} in rules, "preemption is not a failure"
    assert rules[1]["onExitCodes"]["values"] == [EXIT_STOPPED]
    assert "suspend" not in spec and "kueue.x-k8s.io/queue-name" not in job["metadata"]["labels"]
    assert job["metadata"]["labels"]["tuneserve.dev/job-id"] == "job-0123456789ab"
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "tuneserve", "the template's labels stay"
    assert TEMPLATE["spec"]["containers"][0]["resources"] == {"limits": {"memory": "16Gi"}}, "the template is not changed"
    one = render_job(TEMPLATE, "job-0123456789ab", "sentiment", 0, POLICY)["spec"]["template"]["spec"]["containers"][0]
    assert (
        one["command"] == ["python", "-m", "trainer.jobs.run_job", "job-0123456789ab"]
        and "nvidia.com/gpu" not in one["resources"]["limits"]
    )


def test_under_a_kueue_queue_the_job_is_created_suspended_with_the_queue_label():
    job = render_job(TEMPLATE, "job-1", "sentiment", 1, JobPolicy("ml", 3, 86400, 3600, queue="team-a"))
    assert job["spec"]["suspend"] is True and job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"


@pytest.mark.parametrize("version", ["1.29.0", None])
def test_rendered_jobs_pass_the_kubernetes_schemas_strictly(version):
    for policy in (POLICY, JobPolicy("ml", 0, 600, 0, queue="team-a")):
        done = kubernetes_validate(render_job(TEMPLATE, "job-0123456789ab", "a name/with odd chars", 4, policy), version)
        assert done.returncode == 0, done.stdout + done.stderr
    broken = render_job(TEMPLATE, "job-1", "a", 0, POLICY)
    broken["spec"]["podFailurePolicy"]["rules"][0]["action"] = "Forgive"
    broken["spec"]["backofflimit"] = 1
    assert kubernetes_validate(broken).returncode != 0, "the validator catches a wrong Job"


# -- what the cluster says -----------------------------------------------------------------------


def pod(phase: str, created: str = "2026-12-05T10:00:00Z", **status) -> dict:
    return {"metadata": {"name": f"p-{created[-9:-1]}", "creationTimestamp": created}, "status": {"phase": phase, **status}}


def k8s_job(suspend: bool = False, conditions: list | None = None) -> dict:
    return {"metadata": {"name": "tuneserve-train-job-1"}, "spec": {"suspend": suspend}, "status": {"conditions": conditions or []}}


FAILED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]
COMPLETE = [{"type": "Complete", "status": "True"}]
OOM = {"containerStatuses": [{"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}
UNSCHEDULABLE = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes have GPUs"}]}


def test_pod_reasons_name_what_an_operator_fixes():
    assert pod_reason(pod("Failed", **OOM)) == "OOMKilled, exit code 137"
    assert pod_reason(pod("Pending", **UNSCHEDULABLE)) == "Unschedulable: 0/3 nodes have GPUs"
    waiting = {"containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]}
    assert pod_reason(pod("Pending", **waiting)) == "ImagePullBackOff: not found"
    assert pod_reason(pod("Running", containerStatuses=[{"state": {"running": {}}}])) == ""


def test_the_view_follows_the_newest_pod_and_the_jobs_conditions():
    view = cluster_view(k8s_job(conditions=FAILED), [pod("Failed", "2026-12-05T10:00:00Z"), pod("Failed", "2026-12-05T11:00:00Z", **OOM)])
    assert (view.finished, view.pod_phase, view.pod_reason) == ("Failed", "Failed", "OOMKilled, exit code 137")
    assert view.failure == "BackoffLimitExceeded: Job has reached the specified backoff limit"
    assert view.pod_name == "p-11:00:00"
    assert cluster_view(None, []).exists is False
    assert cluster_view(k8s_job(suspend=True), []).note() == "Job waiting for its queue to admit it"
    assert cluster_view(k8s_job(), [pod("Pending", **UNSCHEDULABLE)]).note() == "pod Pending (Unschedulable: 0/3 nodes have GPUs)"


def test_reconciling_a_job_with_its_kubernetes_job():
    running = JobState.RUNNING
    waiting = reconcile("job-1", JobState.QUEUED, False, cluster_view(k8s_job(suspend=True), []))
    assert (waiting.phase, waiting.ended, waiting.delete, waiting.create) == ("admitted", None, False, False)
    assert reconcile("job-1", running, False, cluster_view(k8s_job(), [pod("Running")])).phase == "running"
    failed = reconcile("job-1", running, False, cluster_view(k8s_job(conditions=FAILED), [pod("Failed", **OOM)])).ended
    assert failed is not None and failed.outcome is None and failed.retried
    assert "BackoffLimitExceeded" in failed.reason and "OOMKilled, exit code 137" in failed.reason
    recorded = reconcile("job-1", JobState.FAILED, False, cluster_view(k8s_job(conditions=FAILED), []))
    assert recorded.ended == RunEnded("job-1", Outcome.CONCLUDED), "the run's own outcome stands"
    assert reconcile("job-1", JobState.SUCCEEDED, False, cluster_view(k8s_job(conditions=COMPLETE), [])).ended.outcome is Outcome.CONCLUDED
    unrecorded = reconcile("job-1", running, False, cluster_view(k8s_job(conditions=COMPLETE), [])).ended
    assert unrecorded.outcome is None and "without recording an outcome" in unrecorded.reason
    # cancelled before a pod runs: the Job is deleted and the job cancelled; once running, the run sees the cancel itself
    queued = reconcile("job-1", JobState.QUEUED, True, cluster_view(k8s_job(suspend=True), []))
    assert queued.delete and queued.ended == RunEnded("job-1", Outcome.STOPPED)
    assert not reconcile("job-1", running, True, cluster_view(k8s_job(), [pod("Running")])).delete
    done = reconcile("job-1", JobState.CANCELLED, True, cluster_view(k8s_job(), [pod("Running")]))
    assert done.delete and done.ended.outcome is Outcome.CONCLUDED
    # a Job deleted by someone while the job still needs it is created again (it resumes from its checkpoint)
    assert reconcile("job-1", running, False, cluster_view(None, [])).create
    assert reconcile("job-1", JobState.SUCCEEDED, False, cluster_view(None, [])).ended.outcome is Outcome.CONCLUDED


# -- what operators see --------------------------------------------------------------------------


def test_train_list_shows_where_each_job_runs():
    from tuneserve.v1 import trainer_pb2
    from tuneserve_client.train_cli import jobs_table

    jobs = [
        trainer_pb2.Job(id="job-1", adapter_name="a", state=trainer_pb2.JOB_STATE_RUNNING, executor="process", placement="pid 42"),
        trainer_pb2.Job(
            id="job-2",
            adapter_name="b",
            state=trainer_pb2.JOB_STATE_QUEUED,
            executor="kubernetes",
            placement="Job ml/tuneserve-train-job-2",
            attempts=1,
        ),  # fmt: skip
        trainer_pb2.Job(id="job-3", adapter_name="c", state=trainer_pb2.JOB_STATE_QUEUED),
    ]
    header, first, second, third = jobs_table(jobs).splitlines()
    assert "WHERE" in header and "process pid 42" in first
    assert "kubernetes Job ml/tuneserve-train-job-2 (retry 1)" in second and " - " in third


def test_executor_metrics_count_jobs_by_phase_and_runs_by_result():
    from prometheus_client import generate_latest

    from trainer.metrics import TrainerMetrics

    metrics = TrainerMetrics()
    phases = {"job-1": "admitted", "job-2": "running", "job-3": "running"}
    metrics.bind_executor("kubernetes", lambda: 4.0, lambda phase: float(sum(p == phase for p in phases.values())))
    metrics.run_started("kubernetes")
    metrics.run_ended("kubernetes", "requeued")
    text = generate_latest(metrics.registry).decode()
    for line in (
        'tuneserve_trainer_executor_jobs{executor="kubernetes",state="queued"} 4.0',
        'tuneserve_trainer_executor_jobs{executor="kubernetes",state="admitted"} 1.0',
        'tuneserve_trainer_executor_jobs{executor="kubernetes",state="running"} 2.0',
        'tuneserve_trainer_executor_runs_started_total{executor="kubernetes"} 1.0',
        'tuneserve_trainer_executor_runs_ended_total{executor="kubernetes",result="requeued"} 1.0',
    ):
        assert line in text, line
