"""Training files: JSONL data uploaded once and named by jobs (`training_file_id`), kept in the
shared database (common.database) so every trainer replica sees the same files.

A file is checked when it is kept, not trusted later: UTF-8, every non-empty line a JSON object,
at most the trainer's max_data_bytes. Whether its examples suit a job is the job's validation.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from common.errors import InvalidRequest, NotFound

PURPOSES = ("fine-tune",)
MAX_FILENAME_CHARS = 255
MAX_LIST = 10_000


@dataclass(frozen=True)
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    lines: int
    sha256: str
    created: float


def checked_lines(content: bytes, field: str = "content") -> int:
    """The number of examples (non-empty lines) of a JSONL file; InvalidRequest naming the first bad line."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = content[: exc.start].count(b"\n") + 1
        raise InvalidRequest(field, f"line {where} is not UTF-8 text (byte {exc.start})") from None
    lines = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(field, f"line {number} is not JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(value, dict):
            raise InvalidRequest(field, f"line {number} is not a JSON object (one example per line)")
        lines += 1
    if not lines:
        raise InvalidRequest(field, "has no examples: give one JSON object per line")
    return lines


class FileStore:
    def __init__(self, engine: Engine, max_bytes: int) -> None:
        self.engine = engine
        self.max_bytes = max_bytes

    def add(self, filename: str, purpose: str, content: bytes) -> FileRecord:
        if purpose not in PURPOSES:
            raise InvalidRequest("purpose", f"must be {' or '.join(repr(p) for p in PURPOSES)}, got {purpose[:40]!r}")
        if not filename or len(filename) > MAX_FILENAME_CHARS or not filename.isprintable():
            raise InvalidRequest("filename", f"must be 1 to {MAX_FILENAME_CHARS} printable characters")
        if len(content) > self.max_bytes:
            raise InvalidRequest("content", f"has {len(content)} bytes, over the trainer's max_data_bytes ({self.max_bytes})")
        record = FileRecord(
            id=f"file-{uuid.uuid4().hex[:24]}",
            filename=filename,
            purpose=purpose,
            bytes=len(content),
            lines=checked_lines(content),
            sha256=hashlib.sha256(content).hexdigest(),
            created=time.time(),
        )
        with self.engine.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO training_files (id, filename, purpose, bytes, lines, sha256, created, content) "
                    "VALUES (:id, :filename, :purpose, :bytes, :lines, :sha256, :created, :content)"
                ),
                {**record.__dict__, "content": content},
            )
        return record

    def get(self, file_id: str) -> FileRecord:
        with self.engine.connect() as db:
            row = db.execute(sa.text(f"SELECT {_COLUMNS} FROM training_files WHERE id = :id"), {"id": file_id}).mappings().first()
        if row is None:
            raise NotFound(f"no file {file_id[:64]!r}: it was never uploaded, or was deleted")
        return FileRecord(**row)

    def content(self, file_id: str) -> bytes:
        with self.engine.connect() as db:
            content = db.execute(sa.text("SELECT content FROM training_files WHERE id = :id"), {"id": file_id}).scalar()
        if content is None:
            raise NotFound(f"no file {file_id[:64]!r}: it was never uploaded, or was deleted")
        return bytes(content)

    def list(self, purpose: str = "", limit: int = 100, after: str = "") -> tuple[builtins.list[FileRecord], bool]:
        """Files newest first, `limit` of them after the file `after`, and whether more follow."""
        limit = min(max(limit, 1), MAX_LIST)
        where: list[str] = ["1 = 1"]
        values: dict[str, object] = {"limit": limit + 1}
        if purpose:
            where.append("purpose = :purpose")
            values["purpose"] = purpose
        if after:
            start = self._cursor(after)
            where.append("(created < :created OR (created = :created AND id < :id))")
            values.update(created=start.created, id=start.id)
        query = f"SELECT {_COLUMNS} FROM training_files WHERE {' AND '.join(where)} ORDER BY created DESC, id DESC LIMIT :limit"
        with self.engine.connect() as db:
            rows = db.execute(sa.text(query), values).mappings().all()
        return [FileRecord(**row) for row in rows[:limit]], len(rows) > limit

    def _cursor(self, after: str) -> FileRecord:
        """The file a page starts after; naming none is a bad argument (as for the other lists), not a missing file."""
        try:
            return self.get(after)
        except NotFound:
            raise InvalidRequest("after", f"names no file, got {after[:64]!r}") from None

    def delete(self, file_id: str) -> FileRecord:
        record = self.get(file_id)
        with self.engine.begin() as db:
            db.execute(sa.text("DELETE FROM training_files WHERE id = :id"), {"id": file_id})
        return record


_COLUMNS = "id, filename, purpose, bytes, lines, sha256, created"
