"""Running one job in its own process(es): the entry point torchrun launches for DDP training.

    torchrun --nproc-per-node 4 -m trainer.run_job JOB_ID [trainer settings flags]

Every rank reads the job from the trainer's database, loads the base model on its own device
(cuda:LOCAL_RANK, or the CPU with the gloo backend) and trains on its share of each step; rank 0
evaluates, publishes and records progress and the outcome in the same database, where the trainer
service and WatchJob see it. A cancel request recorded there stops every rank at its next step.
The trainer service launches this itself when its `processes` setting is above 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from common.base_model import load_tokenizer
from trainer.config import TrainerSettings


def run_distributed(job_id: str, settings: TrainerSettings) -> None:
    """Runs the job under torchrun and waits; the ranks report through the job database."""
    env = {
        **os.environ,
        "TUNESERVE_WORK_DIR": str(settings.work_dir),
        "TUNESERVE_ADAPTER_STORE": str(settings.adapter_store),
        "TUNESERVE_MODEL": settings.model,
        "TUNESERVE_CACHE_DIR": str(settings.cache_dir),
        "TUNESERVE_PROBE_DATA": str(settings.probe_data),
        "TUNESERVE_DATABASE_URL": settings.job_database(),
        **({"TUNESERVE_DATABASE_PASSWORD_FILE": str(settings.database_password_file)} if settings.database_password_file else {}),
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={settings.processes}",
        "-m",
        "trainer.run_job",
        job_id,
    ]
    finished = subprocess.run(command, env=env, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"torchrun exited with {finished.returncode}")


def main(argv: Sequence[str] | None = None) -> int:
    import torch
    import torch.distributed as dist

    from common.database.connect import open_database
    from common.rpc.lifecycle import parse_settings
    from trainer.job import execute
    from trainer.jobs_db import JobState, JobStore

    args = list(sys.argv[1:] if argv is None else argv)
    job_id, settings = args[0], parse_settings(TrainerSettings, args[1:])
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            settings = settings.model_copy(update={"device": f"cuda:{local_rank}"})
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    jobs = JobStore(open_database(settings.job_database(), settings.database_password_file))
    main_rank = int(os.environ.get("RANK", 0)) == 0

    def on_progress(progress) -> None:  # type: ignore[no-untyped-def]
        if main_rank:
            jobs.update(job_id, step=progress.step, total_steps=progress.total_steps, train_loss=progress.train_loss)
            jobs.add_event(job_id, "progress", progress.__dict__)

    try:
        execute(
            job_id,
            settings,
            jobs,
            settings.open_adapter_store(settings.adapter_store, settings.cache_dir),
            load_tokenizer(settings),
            should_stop=lambda: jobs.get(job_id).cancel_requested,
            on_progress=on_progress,
        )
    except Exception as exc:
        if main_rank and not jobs.get(job_id).state.terminal and not jobs.get(job_id).cancel_requested:
            jobs.transition(job_id, JobState.FAILED, "training_error", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if world > 1:
            dist.destroy_process_group()
        jobs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
