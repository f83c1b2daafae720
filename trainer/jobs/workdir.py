"""A job's directory under a work dir: its data, checkpoints, staged adapter and reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.durable import write_file

LOSS_CURVE = "loss_curve.png"
HTML_REPORT = "report.html"
INVALID_LINES = "invalid_lines.txt"


@dataclass(frozen=True)
class JobFiles:
    """A job's directory under the trainer's work dir."""

    root: Path

    @classmethod
    def of(cls, work_dir: Path, job_id: str) -> JobFiles:
        return cls(work_dir / "jobs" / job_id)

    @property
    def train(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def validation(self) -> Path:
        return self.root / "validation.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def loss_curve(self) -> Path:
        return self.root / LOSS_CURVE

    @property
    def html_report(self) -> Path:
        return self.root / HTML_REPORT

    @property
    def invalid_lines(self) -> Path:
        return self.root / INVALID_LINES

    def create(self, training: bytes, validation: bytes | None) -> None:
        """The job's directory and data, readable by the trainer's user only (the data may be private)."""
        self.root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.mkdir(mode=0o700)
        write_private(self.train, training)
        if validation:
            write_private(self.validation, validation)


def write_private(path: Path, data: bytes) -> None:
    """Writes a file only the trainer's user can read, whatever the process umask."""
    write_file(path, data, mode=0o600)
