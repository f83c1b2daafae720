"""The adapter store on a filesystem: `<root>/<name>/<version>/` plus a `current` pointer per name.

What every store offers is in common.adapter_store; this one suits one machine or a shared volume.

Publishing writes a version into a hidden temporary directory, fsyncs it and renames it into
place; the pointer is replaced the same way. A reader (the server, possibly in another pod on a
shared volume) therefore sees either nothing or a whole version, never half of one. The trainer
and the import command publish through this module; the server reads it and never writes.

Entries are read strictly: a name is a valid adapter name, a version a plain decimal number (see
common.adapter_manifest), and anything else in the tree is ignored, so one odd entry affects
nothing but itself. Links are never followed (common.safe_files).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from common.adapter_manifest import MANIFEST_FILE, PICKLE_SUFFIXES, AdapterManifest, AdapterRef, check_name, is_valid_name, parse_version
from common.adapter_store import StoredVersion, resolve
from common.durable import fsync_path, replace_atomically, write_file
from common.errors import FailedPrecondition, InvalidRequest, NotFound
from common.rollout import POLICY_FILE, PROMPT_ARM, RolloutPolicy
from common.safe_files import Directory, UnsafePath, is_plain_file_name

log = logging.getLogger(__name__)

POINTER_FILE = "current"
# Prefixes of what publishing leaves behind for a moment: staging directories, pointer files
# about to be renamed, versions on their way out. A publisher killed half-way leaves them.
_TEMPORARY_PREFIXES = (".tmp-", ".trash-", f".{POINTER_FILE}.", f".{POLICY_FILE}.")
_IMPORTS = ".imports"


def regular_files(source_dir: Path) -> dict[str, bytes]:
    """The files of a directory to publish, read without following links.

    Pickles, links and special files are refused; subdirectories and hidden files (checkpoints,
    editor droppings) are not part of a version and are left out.
    """
    contents: dict[str, bytes] = {}
    with Directory.open(source_dir) as directory:
        for file_name in directory.names():
            kind = directory.kind(file_name)
            if file_name == MANIFEST_FILE or file_name.startswith(".") or kind == "directory":
                continue
            if Path(file_name).suffix in PICKLE_SUFFIXES:
                raise InvalidRequest("files", f"pickle files are never stored or loaded: {file_name}; save the weights as safetensors")
            if kind != "file" or not is_plain_file_name(file_name):
                raise InvalidRequest(
                    "files", f"{file_name!r} is a symbolic link, a special file or an odd name; only regular files are published"
                )
            contents[file_name] = directory.read(file_name)
    return contents


class FileAdapterStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def location(self) -> str:
        return str(self.root)

    def sync(self) -> None:
        pass  # every read looks at the directory itself

    def watch_paths(self) -> list[Path]:
        return [self.root]

    def listen(self, changed: Callable[[], None]) -> Callable[[], None] | None:
        return None

    def close(self) -> None:
        pass

    # -- reading ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Adapter names with at least one version; entries that are not valid names or are links are ignored."""
        names = []
        for entry in self.root.iterdir():
            try:
                if is_valid_name(entry.name) and not entry.is_symlink() and entry.is_dir() and self.versions(entry.name):
                    names.append(entry.name)
            except OSError as exc:  # one unreadable entry is left out; the others are the store
                log.warning("adapter store entry unreadable; skipped", extra={"entry": entry.name, "error": str(exc)})
        return sorted(names)

    def versions(self, name: str) -> list[int]:
        """The versions of `name`: entries named by a plain version number that hold a manifest.

        A version that is a link is listed (loading it is refused, which says why) but not entered.
        """
        directory = self.root / check_name(name)
        if directory.is_symlink() or not directory.is_dir():
            return []
        versions = []
        for entry in directory.iterdir():
            version = parse_version(entry.name)
            if version is not None and (entry.is_symlink() or (entry / MANIFEST_FILE).is_file()):
                versions.append(version)
        return sorted(versions)

    def current(self, name: str) -> int | None:
        """The version the pointer names, or None when there is no valid pointer."""
        try:
            with Directory.open(self.root, [check_name(name)]) as directory:
                text = directory.read(POINTER_FILE, limit=64).decode("ascii").strip()
        except (OSError, UnsafePath, UnicodeDecodeError, ValueError):
            return None
        return parse_version(text)

    def rollout(self, name: str) -> RolloutPolicy | None:
        """The name's traffic split, or None; ValueError saying why when the file is there but unusable."""
        try:
            with Directory.open(self.root, [check_name(name)]) as directory:
                data = directory.read(POLICY_FILE, limit=4096)
        except FileNotFoundError:
            return None
        except (OSError, UnsafePath) as exc:
            raise ValueError(f"cannot read {name}/{POLICY_FILE}: {exc}") from None
        return RolloutPolicy.from_json(data)

    def set_rollout(self, name: str, policy: RolloutPolicy | None) -> None:
        """Writes (or, with None, removes) the name's split; every version it names must exist."""
        with self._locked(name) as directory:
            if policy is None:
                (directory / POLICY_FILE).unlink(missing_ok=True)
                return
            missing = sorted({v for v in policy.versions if v != PROMPT_ARM} - set(self.versions(name)))
            if missing:
                raise NotFound(f"adapter {name!r} has no version {missing[0]}; it has {self.versions(name)}")
            replace_atomically(directory / POLICY_FILE, policy.to_json())

    def path(self, name: str, version: int) -> Path:
        return self.root / check_name(name) / str(version)

    def resolve(self, ref: AdapterRef) -> StoredVersion:
        return resolve(self, ref)

    def local_root(self, name: str, version: int) -> Path:
        return self.root

    def manifest(self, name: str, version: int) -> AdapterManifest:
        """The manifest of a version, read without following links; OSError or ValueError when unreadable."""
        with Directory.open(self.root, [check_name(name), str(version)]) as directory:
            return AdapterManifest.model_validate_json(directory.read(MANIFEST_FILE))

    def published_by(self, name: str, job_id: str) -> int | None:
        """The version that trainer job `job_id` published under `name`, if any."""
        for version in reversed(self.versions(name)):
            try:
                if self.manifest(name, version).job_id == job_id:
                    return version
            except (OSError, UnsafePath, ValueError):
                continue
        return None

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

        Only regular files are copied: pickles, links and anything else are refused. The
        manifest's `files` and `version` are filled in here. Returns the new version number.
        """
        contents = regular_files(Path(source_dir))
        with self._locked(manifest.name) as directory:
            version = max(self.versions(manifest.name), default=0) + 1
            staging = directory / f".tmp-{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                digests = {}
                for file_name, data in contents.items():
                    write_file(staging / file_name, data, exclusive=True)
                    digests[file_name] = hashlib.sha256(data).hexdigest()
                final = manifest.model_copy(update={"version": version, "files": digests})
                write_file(staging / MANIFEST_FILE, final.model_dump_json(indent=2).encode(), exclusive=True)
                fsync_path(staging)
                os.rename(staging, directory / str(version))
                fsync_path(directory)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if make_current:
                replace_atomically(directory / POINTER_FILE, f"{version}\n".encode())
        return version

    def set_current(self, name: str, version: int) -> None:
        with self._locked(name) as directory:
            if version not in self.versions(name):
                raise NotFound(f"adapter {name!r} has no version {version}; it has {self.versions(name)}")
            replace_atomically(directory / POINTER_FILE, f"{version}\n".encode())

    def import_staging(self) -> Path:
        """A fresh private directory under the store for an import being received (same filesystem)."""
        staging = self.root / _IMPORTS / uuid.uuid4().hex
        staging.mkdir(parents=True, mode=0o700)
        return staging

    def clean_stale_imports(self, older_than_s: float = 3600.0) -> None:
        """Removes import staging left by a server killed mid-import (old enough not to be in progress)."""
        imports = self.root / _IMPORTS
        if not imports.is_dir() or imports.is_symlink():
            return
        cutoff = time.time() - older_than_s
        for leftover in imports.iterdir():
            with contextlib.suppress(OSError):
                if leftover.lstat().st_mtime >= cutoff:
                    continue
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()

    def clean_temporaries(self) -> list[Path]:
        """Removes what killed publishers left (staging directories, pointer temporaries); returns them.

        Each name is cleaned under its lock, so a publish in progress (in any process) is never touched.
        """
        removed = []
        for entry in self.root.iterdir():
            if not is_valid_name(entry.name) or entry.is_symlink() or not entry.is_dir():
                continue
            with self._locked(entry.name) as directory:
                for leftover in directory.iterdir():
                    if leftover.name.startswith(_TEMPORARY_PREFIXES):
                        if leftover.is_dir() and not leftover.is_symlink():
                            shutil.rmtree(leftover, ignore_errors=True)
                        else:
                            leftover.unlink(missing_ok=True)
                        removed.append(leftover)
        if removed:
            log.info("removed what interrupted publishes left", extra={"paths": [str(p) for p in removed]})
        return removed

    def delete(self, name: str, version: int) -> None:
        """Removes a version that is not current; the rename makes it vanish at once for readers."""
        with self._locked(name) as directory:
            if version not in self.versions(name):
                raise NotFound(f"adapter {name!r} has no version {version}")
            if self.current(name) == version:
                raise FailedPrecondition(f"{name}@{version} is the current version; make another version current first")
            trash = directory / f".trash-{uuid.uuid4().hex}"
            os.rename(directory / str(version), trash)
            fsync_path(directory)
            shutil.rmtree(trash, ignore_errors=True)
