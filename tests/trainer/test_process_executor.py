"""The process executor runs the entry point the Kubernetes Jobs run (trainer.jobs.run_job), so this is
where that entry point is proven end to end: a real trainer process with `executor=process` and a
limit of 2 runs three small jobs two at a time (the third waits), each once and published once; a
job whose process is killed with SIGKILL is resumed from its last checkpoint, read back from object
storage (its local copy is deleted), and is neither lost nor trained twice. Its data and checkpoints are in a real
S3-compatible store (moto's server) as `job_store`.

The trainer serves the tiny random Llama: what is proven here is how runs are started, limited,
killed and resumed, which does not depend on the model, and on it the three jobs train and evaluate
in seconds (the real model's training is proven in test_training.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
from tuneserve_client import Client

from common.file_adapter_store import FileAdapterStore
from tests.tools import free_port
from tests.trainer.conftest import QUICK, TINY_MODEL_STEPS, start_trainer_process
from tests.waiting import wait_for
from trainer.jobs.records import JobState, JobStore
from trainer.jobs.storage import ObjectJobStorage

STEPS = {**QUICK, "hyperparameters": {**QUICK["hyperparameters"], "max_steps": TINY_MODEL_STEPS}, "checkpoint_every": 2}


class RunningSampler:
    """Samples how many jobs are running at once, from the database, until stopped."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self.most = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stopped.is_set():
            self.most = max(self.most, self.jobs.count(JobState.RUNNING))
            time.sleep(0.1)

    def stop(self) -> int:
        self.stopped.set()
        self.thread.join(5)
        return self.most


@pytest.mark.slow
def test_three_jobs_run_two_at_a_time_once_each_and_a_killed_run_resumes_from_its_checkpoint(
    object_store, tmp_path, cache_dir, tiny_llama_dir, sentiment_jsonl
):
    location = object_store.bucket("training")
    work = tmp_path / "work"
    env = {
        "TUNESERVE_EXECUTOR": "process",
        "TUNESERVE_MAX_CONCURRENT_JOBS": "2",
        "TUNESERVE_WORK_DIR": str(work),
        "TUNESERVE_JOB_STORE": location,
        "TUNESERVE_ADAPTER_STORE": str(tmp_path / "store"),
        "TUNESERVE_CACHE_DIR": str(cache_dir),
        "TUNESERVE_MODEL": str(tiny_llama_dir),
        "TUNESERVE_LOG_FORMAT": "text",
    }
    port = free_port()
    trainer = start_trainer_process(port, env, tmp_path / "trainer.log")
    try:
        with Client(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_ready(180)
            ids = [client.create_job(str(sentiment_jsonl), f"parallel-{i}", **STEPS).id for i in range(3)]
            jobs = JobStore.open(f"sqlite:///{work / 'jobs.sqlite3'}")
            sampler = RunningSampler(jobs)

            def checkpointed() -> tuple[str, int] | None:
                for job_id in ids:
                    job = jobs.get(job_id)
                    if job.state is JobState.RUNNING and 2 <= job.step < TINY_MODEL_STEPS - 10 and job.placement.startswith("pid "):
                        return job_id, int(job.placement.removeprefix("pid "))
                return None

            victim, pid = wait_for(checkpointed, 600, interval=0.05, what="a run past its first checkpoint")
            os.kill(pid, signal.SIGKILL)
            # what the run left on this disk is gone, as it would be on another node
            shutil.rmtree(work / "jobs" / victim)
            for job_id in ids:
                wait_for(lambda j=job_id: client.get_job(j).state >= 4, 900, interval=0.5, what=f"{job_id} to finish")
            most = sampler.stop()
            listed = {job.id: job for job in client.list_jobs()}
        finished = {job_id: jobs.get(job_id) for job_id in ids}
        assert {job.state for job in finished.values()} == {JobState.SUCCEEDED}, [j.error_message for j in finished.values()]
        assert most == 2, f"at most two at once, and two did run together (saw {most})"
        adapters = FileAdapterStore(tmp_path / "store")
        assert {f"parallel-{i}": adapters.versions(f"parallel-{i}") for i in range(3)} == {f"parallel-{i}": [1] for i in range(3)}
        for job_id in ids:
            states = [e.payload["state"] for e in jobs.events(job_id) if e.kind == "state"]
            expected = 2 if job_id == victim else 1
            assert states.count("running") == expected and states.count("succeeded") == 1, (job_id, states)
            assert listed[job_id].executor == "process" and listed[job_id].placement.startswith("pid ")
        messages = [e.payload.get("text", "") for e in jobs.events(victim) if e.kind == "message"]
        assert any("died without an outcome (killed by SIGKILL)" in m and "retry 1 of 3" in m for m in messages), messages
        resumed = [m for m in messages if m.startswith("resumed from the checkpoint at step")]
        assert len(resumed) == 1 and int(resumed[0].rsplit(" ", 1)[1]) >= 2, messages
        assert finished[victim].attempts == 1 and listed[victim].attempts == 1
        # the victim's steps after the resume continue from the checkpoint: none before it is trained again
        steps = [e.payload["step"] for e in jobs.events(victim) if e.kind == "progress"]
        checkpoint = int(resumed[0].rsplit(" ", 1)[1])
        after = steps[steps.index(checkpoint) + 1 :]
        assert after and min(after) > checkpoint - 1 and steps[-1] == TINY_MODEL_STEPS, steps
        # the jobs' reports stay in object storage; their checkpoints do not
        storage = ObjectJobStorage(location)
        listing = storage.client.list_objects_v2(Bucket=storage.where.bucket, Prefix=storage.where.prefix)
        keys = {item["Key"].removeprefix(storage.where.prefix) for item in listing.get("Contents", [])}
        assert {f"jobs/{j}/report.html" for j in ids} <= keys and not any("/checkpoints/" in k for k in keys), sorted(keys)
    finally:
        trainer.send_signal(signal.SIGTERM)
        try:
            trainer.wait(60)
        except subprocess.TimeoutExpired:
            trainer.kill()
