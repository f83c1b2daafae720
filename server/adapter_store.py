"""The adapter store on a filesystem: `<root>/<name>/<version>/` plus a `current` pointer per name.

Publishing writes a version into a hidden temporary directory, fsyncs it and renames it into
place; the pointer is replaced the same way. A reader (the server, possibly in another pod on a
shared volume) therefore sees either nothing or a whole version, never half of one. The trainer
and the import command publish through this module; the server reads it and never writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from server.adapter_manifest import MANIFEST_FILE, AdapterManifest, AdapterRef, check_name
from server.errors import FailedPrecondition, InvalidRequest, NotFound

POINTER_FILE = "current"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass(frozen=True)
class StoredVersion:
    name: str
    version: int
    path: Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    """Writes a file next to `path` and renames it over `path`, fsyncing file and directory."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}"
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


class AdapterStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- reading ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        directory = self.root / check_name(name)
        if not directory.is_dir():
            return []
        return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and (p / MANIFEST_FILE).is_file())

    def current(self, name: str) -> int | None:
        """The version the pointer names, or None when there is no valid pointer."""
        pointer = self.root / check_name(name) / POINTER_FILE
        try:
            text = pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def path(self, name: str, version: int) -> Path:
        return self.root / check_name(name) / str(version)

    def resolve(self, ref: AdapterRef) -> StoredVersion:
        """The stored version a reference names; NotFound says what does exist."""
        versions = self.versions(ref.name)
        if not versions:
            raise NotFound(f"adapter {ref.name!r} is not in the adapter store")
        version = ref.version if ref.version is not None else self.current(ref.name)
        if version is None:
            raise NotFound(f"adapter {ref.name!r} has no current version; ask for one of {versions} as {ref.name}@N")
        if version not in versions:
            raise NotFound(f"adapter {ref.name!r} has no version {version}; it has {versions}")
        return StoredVersion(ref.name, version, self.path(ref.name, version))

    def manifest(self, name: str, version: int) -> AdapterManifest:
        return AdapterManifest.model_validate_json((self.path(name, version) / MANIFEST_FILE).read_text())

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        directory = self.root / check_name(name)
        directory.mkdir(exist_ok=True)
        with (directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield directory
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def publish(self, source_dir: Path, manifest: AdapterManifest, make_current: bool = True) -> int:
        """Copies a complete adapter directory in as the next version of `manifest.name`.

        Pickle files are refused. The manifest's `files` and `version` are filled in here.
        Returns the new version number.
        """
        files = sorted(p for p in Path(source_dir).iterdir() if p.is_file() and p.name != MANIFEST_FILE)
        pickles = [p.name for p in files if p.suffix in _PICKLE_SUFFIXES]
        if pickles:
            raise InvalidRequest("files", f"pickle files are never stored or loaded: {pickles}; save the weights as safetensors")
        with self._locked(manifest.name) as directory:
            version = max(self.versions(manifest.name), default=0) + 1
            staging = directory / f".tmp-{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                digests = {}
                for f in files:
                    shutil.copyfile(f, staging / f.name)
                    digests[f.name] = sha256_of(staging / f.name)
                final = manifest.model_copy(update={"version": version, "files": digests})
                (staging / MANIFEST_FILE).write_text(final.model_dump_json(indent=2))
                for f in staging.iterdir():
                    _fsync(f)
                _fsync(staging)
                os.rename(staging, directory / str(version))
                _fsync(directory)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if make_current:
                _write_durably(directory / POINTER_FILE, f"{version}\n".encode())
        return version

    def set_current(self, name: str, version: int) -> None:
        with self._locked(name) as directory:
            if version not in self.versions(name):
                raise NotFound(f"adapter {name!r} has no version {version}; it has {self.versions(name)}")
            _write_durably(directory / POINTER_FILE, f"{version}\n".encode())

    def delete(self, name: str, version: int) -> None:
        """Removes a version that is not current; the rename makes it vanish at once for readers."""
        with self._locked(name) as directory:
            if version not in self.versions(name):
                raise NotFound(f"adapter {name!r} has no version {version}")
            if self.current(name) == version:
                raise FailedPrecondition(f"{name}@{version} is the current version; make another version current first")
            trash = directory / f".trash-{uuid.uuid4().hex}"
            os.rename(directory / str(version), trash)
            _fsync(directory)
            shutil.rmtree(trash, ignore_errors=True)
