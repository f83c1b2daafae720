"""FileChanges: one report per change, nothing while a file is missing, throttled looks."""

from __future__ import annotations

import os
import time

from common.security.file_changes import FileChanges


def bump(path, text):
    path.write_text(text)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))


def test_a_change_is_reported_once_and_a_missing_file_is_retried(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("1")
    b.write_text("1")
    changes = FileChanges([a, b], every_s=0.0)
    assert not changes.poll()
    bump(b, "22")
    assert changes.poll() and not changes.poll()
    a.unlink()
    assert not changes.poll(), "half-way through a rotation: wait for the file"
    bump(a, "333")
    assert changes.poll()


def test_looks_are_throttled(tmp_path):
    a = tmp_path / "a"
    a.write_text("1")
    changes = FileChanges([a], every_s=3600)
    bump(a, "22")
    assert not changes.poll(), "not looked at again within every_s"
