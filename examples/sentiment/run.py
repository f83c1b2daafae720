"""The sentiment example end to end: data, trainer, server, training job, report, Classify.

    python examples/sentiment/run.py [--train 2000] [--epochs 1]

Starts a trainer and a server that share an adapter store under examples/sentiment/work, trains
the `sentiment` adapter on the Rotten Tomatoes reviews (prepared by prepare.py), prints the
evaluation against 4-shot prompting, then classifies a few reviews through the `sentiment` task,
which the server answers with the freshly published adapter and its training template.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REVIEWS = [
    "A triumph: funny, moving and beautifully acted.",
    "Two hours of my life I will never get back.",
    "The plot is thin, but the performances carry it.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: str, work: Path, port: int, log: Path, **extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TUNESERVE_PORT": str(port),
        "TUNESERVE_METRICS_PORT": str(free_port()),
        "TUNESERVE_ADAPTER_STORE": str(work / "adapters"),
        "TUNESERVE_LOG_FORMAT": "text",
        **extra,
    }
    return subprocess.Popen([str(Path(sys.executable).parent / command)], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=2000, help="training reviews (the holdout is always the full 600)")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    data = HERE / "data"
    if not (data / "train.jsonl").is_file():
        subprocess.run([sys.executable, str(HERE / "prepare.py")], check=True)
    work = HERE / "work"
    work.mkdir(exist_ok=True)
    train = work / "train.jsonl"
    train.write_text("".join((data / "train.jsonl").read_text().splitlines(keepends=True)[: args.train]))

    from tuneserve_client import Client
    from tuneserve_client.train_cli import watch

    trainer_port, server_port = free_port(), free_port()
    trainer = start("tuneserve-trainer", work, trainer_port, work / "trainer.log", TUNESERVE_WORK_DIR=str(work / "trainer"))
    server = start("tuneserve-server", work, server_port, work / "server.log")
    try:
        with Client(f"127.0.0.1:{trainer_port}", timeout=120) as client:
            client.wait_until_ready(300)
            job = client.create_job(
                str(train),
                "sentiment",
                validation=str(data / "holdout.jsonl"),
                task={"instruction": "Is this movie review positive or negative?"},
                hyperparameters={"epochs": args.epochs},
                evaluation={"icl_shots": 4, "max_holdout": 600},
            )
            print(f"training job {job.id}: logs in {work}", file=sys.stderr)
            if watch(client, job.id) != 0:
                return 1
        with Client(f"127.0.0.1:{server_port}", timeout=120) as client:
            client.wait_until_ready(300)
            client.load_adapter("sentiment")
            for review in REVIEWS:
                result = client.classify("sentiment", review)
                scores = ", ".join(f"{s.label} {s.probability:.2f}" for s in result.scores)
                print(f"{result.label:>8}  ({scores}; {result.adapter})  {review}")
    finally:
        for process in (trainer, server):
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
