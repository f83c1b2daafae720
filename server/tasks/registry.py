"""Where tasks come from and how each is answered right now.

Tasks come from task files (YAML or JSON, one task or a list under `tasks`) in the configured
directory, and from the task specs the trainer writes into adapter manifests. A task is answered:

1. by the adapter its file names, if it names one;
2. else by the adapter of the same name in the store, if there is one: publishing an adapter for a
   task switches it from prompting to fine-tuning with no change for callers (a hot-swap);
3. else by the base model with the task's stored demonstrations (in-context learning), or with the
   instruction alone when it has none.

An adapter-backed task is rendered with the spec in that adapter version's manifest: exactly the
template it was trained with. A task file that stops parsing keeps its last good version in use
and its error is reported in ListTasks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import ValidationError

from common.adapter_manifest import AdapterManifest, AdapterRef
from common.adapter_store import AdapterStore
from common.errors import NotFound
from common.safe_files import UnsafePath
from common.security.file_changes import Stamp, stamp
from common.task_spec import TaskSpec

log = logging.getLogger(__name__)

Backing = Literal["adapter", "demonstrations", "base"]
_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Task:
    """A task as configured, before its adapter (if any) is acquired for a call."""

    spec: TaskSpec
    source: str  # "file <path>" or "adapter <name>"
    adapter: str  # the adapter reference that backs it, "" when none

    @property
    def backing(self) -> Backing:
        if self.adapter:
            return "adapter"
        return "demonstrations" if self.spec.demonstrations else "base"


def parse_task_file(path: Path) -> list[TaskSpec]:
    """The tasks of one file; raises ValueError with the file, the task and the field at fault."""
    try:
        data = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path.name}: cannot be read as {path.suffix[1:].upper()}: {exc}") from None
    items = data.get("tasks") if isinstance(data, dict) and "tasks" in data else [data]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{path.name}: expected a task (a mapping) or a list of tasks under 'tasks'")
    specs = []
    for i, item in enumerate(items):
        try:
            specs.append(TaskSpec.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "task"
            raise ValueError(f"{path.name}: task {item.get('name', i)!r}: {where}: {error['msg']}") from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: task names repeat: {names}")
    return specs


class TaskRegistry:
    def __init__(self, task_dir: Path | None, store: AdapterStore | None) -> None:
        self.task_dir = task_dir
        self.store = store
        self._files: dict[Path, tuple[Stamp, list[TaskSpec]]] = {}  # file -> (stamp, tasks) of its last good version
        self._refused: dict[Path, tuple[Stamp, str]] = {}  # file -> (stamp, error) of a version that did not parse
        self._adapter_tasks: dict[str, TaskSpec] = {}

    def refresh(self) -> None:
        """Re-reads changed task files and the task specs of the store's current adapter versions.

        Runs off the event loop; it builds new tables and swaps them in, so readers never see a
        half-updated registry.
        """
        files: dict[Path, tuple[Stamp, list[TaskSpec]]] = {}
        refused: dict[Path, tuple[Stamp, str]] = {}
        if self.task_dir is not None and self.task_dir.is_dir():
            for path in sorted(self.task_dir.iterdir()):
                if path.suffix not in _SUFFIXES or not path.is_file():
                    continue
                current = stamp(path)
                good, bad = self._files.get(path), self._refused.get(path)
                if good is not None:
                    files[path] = good  # the last good version stays in use until a new one parses
                if (good is not None and good[0] == current) or (bad is not None and bad[0] == current):
                    if bad is not None and bad[0] == current:
                        refused[path] = bad
                    continue
                try:
                    files[path] = (current, parse_task_file(path))
                    log.info("task file loaded", extra={"file": str(path), "tasks": [spec.name for spec in files[path][1]]})
                except ValueError as exc:
                    refused[path] = (current, str(exc))
                    log.warning("task file refused", extra={"file": str(path), "error": str(exc)})
        self._files, self._refused = files, refused
        self._adapter_tasks = self._read_adapter_tasks()

    def _read_adapter_tasks(self) -> dict[str, TaskSpec]:
        tasks: dict[str, TaskSpec] = {}
        if self.store is None:
            return tasks
        for name in self.store.names():
            version = self.store.current(name)
            if version is None:
                continue
            try:
                spec = self.store.manifest(name, version).task
                if spec:
                    tasks[name] = TaskSpec.model_validate(spec)
            except (OSError, ValueError, UnsafePath):
                continue  # one bad entry is that entry's refusal (the adapter manager reports it); the rest go on
        return tasks

    def _file_tasks(self) -> dict[str, tuple[TaskSpec, Path]]:
        tasks: dict[str, tuple[TaskSpec, Path]] = {}
        for path, (_, specs) in sorted(self._files.items()):
            for spec in specs:
                tasks.setdefault(spec.name, (spec, path))
        return tasks

    def get(self, name: str) -> Task:
        files = self._file_tasks()
        if name in files:
            spec, path = files[name]
            adapter = spec.adapter or (name if name in self._adapter_tasks else "")
            return Task(spec, f"file {path.name}", adapter)
        if name in self._adapter_tasks:
            return Task(self._adapter_tasks[name], f"adapter {name}", name)
        raise NotFound(f"no task {name!r}; tasks come from task files and from adapters published with a task spec")

    def all(self) -> list[Task]:
        names = sorted(set(self._file_tasks()) | set(self._adapter_tasks))
        return [self.get(name) for name in names]

    def problems(self) -> dict[str, str]:
        return {str(path): error for path, (_, error) in sorted(self._refused.items())}


class ServedAdapter(Protocol):
    """What a call's acquired adapter version tells the task (server.adapters.loader.LoadedAdapter)."""

    @property
    def manifest(self) -> AdapterManifest: ...


def spec_for_call(task: Task, adapter: ServedAdapter | None) -> TaskSpec:
    """The spec a call renders with: the acquired adapter version's own, when it has one."""
    if adapter is not None and adapter.manifest.task:
        trained = TaskSpec.model_validate(adapter.manifest.task)
        # the file may add default parameters; the prompt and labels stay the trained ones
        return trained.model_copy(update={"parameters": {**trained.parameters, **task.spec.parameters}, "name": task.spec.name})
    return task.spec


def adapter_ref(task: Task) -> str:
    if task.adapter:
        AdapterRef.parse(task.adapter)  # a malformed reference in a task file fails loudly here
    return task.adapter
