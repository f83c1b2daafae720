"""Training-job concurrency benchmark: four small jobs through a real trainer with the process
executor, `max_concurrent_jobs` 1 against 2, in one run on this machine.

Each configuration starts its own `tuneserve-trainer` (executor=process) on a fresh work dir and
adapter store, submits the same four jobs (the sentiment set of the tests, --steps optimizer steps
each, a small evaluation), and times from the first submission until the last job has published.
With two at once each child gets half the cores as torch threads, so the ratio says how much
running jobs side by side gains over one after the other on the same cores: model loading,
evaluation and the trainer's bookkeeping overlap with the other job's training.

Prints the total seconds of each configuration, the ratio, the cores used and each job's own
duration (started to finished, from the job record).

    python bench/training_jobs.py [--steps 8] [--jobs 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import free_port  # noqa: E402
from tests.trainer.conftest import sentiment_rows  # noqa: E402


def run(limit: int, jobs: int, steps: int, data: Path, root: Path) -> dict:
    from tuneserve_client import Client

    from trainer.jobs.records import JobStore

    port = free_port()
    env = {
        **os.environ,
        "TUNESERVE_EXECUTOR": "process",
        "TUNESERVE_MAX_CONCURRENT_JOBS": str(limit),
        "TUNESERVE_WORK_DIR": str(root / "work"),
        "TUNESERVE_ADAPTER_STORE": str(root / "store"),
        "TUNESERVE_LOG_FORMAT": "text",
        "TUNESERVE_LOG_LEVEL": "WARNING",
    }
    log = (root / "trainer.log").open("w")
    trainer = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--port", str(port), "--metrics-port", "0"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        with Client(f"127.0.0.1:{port}", timeout=120) as client:
            client.wait_until_ready(300)
            options = dict(
                hyperparameters={"max_steps": steps, "batch_size": 8, "learning_rate": 1e-3},
                evaluation={"icl_shots": 2, "max_holdout": 8, "forgetting_probe": 8},
                validation_split=0.2,
            )
            started = time.perf_counter()
            ids = [client.create_job(str(data), f"bench-{i}", **options).id for i in range(jobs)]
            while any(client.get_job(job_id).state < 4 for job_id in ids):
                time.sleep(0.25)
            total = time.perf_counter() - started
        records = JobStore.open(f"sqlite:///{root / 'work' / 'jobs.sqlite3'}")
        finished = [records.get(job_id) for job_id in ids]
        states = sorted({job.state.value for job in finished})
        if states != ["succeeded"]:
            raise RuntimeError(f"jobs ended {states}: {[job.error_message for job in finished]}")
        return {
            "limit": limit,
            "total_s": round(total, 1),
            "job_s": [round((job.finished or 0) - (job.started or 0), 1) for job in finished],
        }
    finally:
        trainer.terminate()
        trainer.wait(60)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sentiment.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in sentiment_rows()))
        results = []
        for limit in (1, 2):
            root = Path(tmp) / f"limit-{limit}"
            root.mkdir()
            results.append(run(limit, args.jobs, args.steps, data, root))
            print(f"max_concurrent_jobs={limit}: {results[-1]['total_s']} s for {args.jobs} jobs (each {results[-1]['job_s']} s)")
    ratio = results[0]["total_s"] / results[1]["total_s"]
    print(f"limit 2 vs limit 1: {ratio:.2f}x faster in total, on {cores} cores ({platform.processor() or platform.machine()})")
    if args.json:
        args.json.write_text(json.dumps({"cores": cores, "results": results, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
