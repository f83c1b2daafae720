"""Several trainer replicas on one job database: each job claimed once, leases renewed, a job whose
replica died taken over and finished once. The store's part runs on SQLite and PostgreSQL; the
replicas are real trainer processes on a real PostgreSQL, publishing into object storage, serving the
tiny random Llama: claims, leases and take-overs do not depend on the model, and on it a job trains
and evaluates in a second or two instead of half a minute."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from tuneserve_client import Client

from common.adapter_store import open_adapter_store
from common.file_adapter_store import FileAdapterStore
from tests.tools import free_port
from tests.trainer.conftest import QUICK, TINY_MODEL_STEPS, start_trainer_process
from tests.waiting import wait_for
from trainer.jobs.records import JobState, JobStore


def queued(jobs: JobStore, count: int) -> list[str]:
    ids = []
    for i in range(count):
        job = jobs.create(f"a{i}", {"adapter_name": f"a{i}"})
        jobs.transition(job.id, JobState.QUEUED)
        ids.append(job.id)
    return ids


def test_replicas_claiming_at_once_each_get_different_jobs(database_url):
    stores = [JobStore.open(database_url) for _ in range(4)]
    ids = queued(stores[0], 12)
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def replica(n: int) -> None:
        while (job := stores[n].claim(JobState.QUEUED, f"replica-{n}", lease_s=60)) is not None:
            with lock:
                claimed.append((job.id, f"replica-{n}"))
            stores[n].transition(job.id, JobState.RUNNING)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(job for job, _ in claimed) == sorted(ids), "every job once"
    assert all(stores[0].get(job).runner == who for job, who in claimed)


def test_a_lease_not_renewed_is_taken_over_and_its_old_holder_learns_it(database_url):
    jobs = JobStore.open(database_url)
    (job_id,) = queued(jobs, 1)
    assert jobs.claim(JobState.QUEUED, "first", lease_s=60).id == job_id
    jobs.transition(job_id, JobState.RUNNING)
    assert jobs.claim(JobState.RUNNING, "second", lease_s=60, expired_only=True) is None, "a live lease holds"
    assert jobs.renew("first", [job_id]) == []
    jobs.update(job_id, heartbeat=time.time() - 120)  # the first replica went quiet two minutes ago
    taken = jobs.claim(JobState.RUNNING, "second", lease_s=60, expired_only=True)
    assert taken is not None and taken.runner == "second" and taken.state is JobState.RUNNING
    assert jobs.renew("first", [job_id]) == [job_id], "the old holder finds its lease gone"
    done = jobs.transition(job_id, JobState.SUCCEEDED)
    assert (done.runner, done.heartbeat) == ("", None)


JOBS = 4
LONG = {**QUICK, "hyperparameters": {**QUICK["hyperparameters"], "max_steps": TINY_MODEL_STEPS}}


@pytest.mark.slow
def test_two_trainer_processes_run_four_jobs_once_each_and_one_survives_the_other_being_killed(
    postgres, object_store, tmp_path, cache_dir, tiny_llama_dir, sentiment_jsonl
):
    url = postgres.create_database()
    location = object_store.bucket()  # they publish into object storage, the catalog in the database
    env = {
        "TUNESERVE_DATABASE_URL": url,
        "TUNESERVE_WORK_DIR": str(tmp_path / "work"),  # a shared volume, as the chart mounts it
        "TUNESERVE_ADAPTER_STORE": location,
        "TUNESERVE_CACHE_DIR": str(cache_dir),
        "TUNESERVE_MODEL": str(tiny_llama_dir),
        "TUNESERVE_JOB_LEASE_S": "3",
        "TUNESERVE_LOG_FORMAT": "text",
    }
    ports = [free_port(), free_port()]
    trainers = [start_trainer_process(port, env, tmp_path / f"trainer-{n}.log") for n, port in enumerate(ports)]
    try:
        clients = [Client(f"127.0.0.1:{port}", timeout=60) for port in ports]
        for client in clients:
            client.wait_until_ready(180)
        # two jobs submitted to each: the queue is shared, so either trainer may take any of them
        jobs = [clients[i % 2].create_job(str(sentiment_jsonl), f"shared-{i}", **LONG).id for i in range(JOBS)]
        store = JobStore.open(url)
        victim = trainers[0]

        def running_on_victim() -> str | None:
            for job_id in jobs:
                job = store.get(job_id)
                if job.state is JobState.RUNNING and job.runner.split("-")[-2:-1] == [str(victim.pid)] and job.step >= 1:
                    return job_id
            return None

        interrupted = wait_for(running_on_victim, 600, interval=0.05, what="a job training on the first trainer")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        for job_id in jobs:  # any replica answers for any job: the survivor for all of them
            wait_for(lambda j=job_id: clients[1].get_job(j).state >= 4, 900, interval=0.5, what=f"{job_id} to finish")
        finished = {job_id: store.get(job_id) for job_id in jobs}
        assert {job.state for job in finished.values()} == {JobState.SUCCEEDED}, [j.error_message for j in finished.values()]
        adapters = open_adapter_store(location, database_url=url, database_password_file=None, cache_dir=tmp_path, cache_bytes=2**30)
        assert {f"shared-{i}": adapters.versions(f"shared-{i}") for i in range(JOBS)} == {f"shared-{i}": [1] for i in range(JOBS)}
        assert all(adapters.manifest(f"shared-{i}", 1).eval_report for i in range(JOBS)), "published with their evaluation"
        assert (adapters.local_root("shared-0", 1) / "shared-0" / "1" / "adapter_model.safetensors").stat().st_size > 0
        messages = [e.payload.get("text", "") for e in store.events(interrupted) if e.kind == "message"]
        assert any(m.startswith("taken over by") for m in messages), messages
        states = [e.payload["state"] for e in store.events(interrupted) if e.kind == "state"]
        assert states.count("succeeded") == 1, states
        for client in clients:
            client.close()
    finally:
        for trainer in trainers:
            trainer.kill()
            trainer.wait(10)


def test_a_cancel_recorded_through_another_replica_stops_the_run_here(database_url, tmp_path):
    from tests.trainer.conftest import trainer_settings
    from trainer.execution.runner import JobRunner

    here = JobRunner(
        trainer_settings(tmp_path, tmp_path / "cache"), JobStore.open(database_url), FileAdapterStore(tmp_path / "store"), None
    )
    elsewhere = JobStore.open(database_url)
    (job_id,) = queued(here.jobs, 1)
    assert not here._is_cancelled(job_id)
    elsewhere.request_cancel(job_id)  # CancelJob answered by the other replica
    time.sleep(1.0)  # the database is asked at most once a second
    assert here._is_cancelled(job_id)
