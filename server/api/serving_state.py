"""What the services share once the model is up; until then they answer UNAVAILABLE."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.base_model import BaseModel
from common.errors import Unavailable
from server.adapters.manager import AdapterSource
from server.api.admission import Admission
from server.api.rollouts import Shadows
from server.config import ServerSettings
from server.engine.engine import Engine
from server.experiments.recorder import Experiments
from server.metrics import ServerMetrics
from server.tasks.registry import TaskRegistry


@dataclass
class Serving:
    base: BaseModel
    engine: Engine
    admission: Admission
    adapters: AdapterSource  # the AdapterManager, or NoAdapters without a store
    tasks: TaskRegistry
    settings: ServerSettings
    metrics: ServerMetrics
    experiments: Experiments | None = None  # the record of answers and feedback; None without an adapter store
    shadows: Shadows = field(default_factory=lambda: Shadows(0))

    @property
    def model_names(self) -> tuple[str, ...]:
        """The names the HTTP APIs take for the base model; the first is the one they show."""
        return tuple(self.settings.served_model_names) or (self.base.name,)


class ServingState:
    def __init__(self) -> None:
        self._serving: Serving | None = None
        self.failure: str | None = None

    def set(self, serving: Serving) -> None:
        self._serving = serving

    @property
    def ready(self) -> bool:
        return self._serving is not None

    def require(self) -> Serving:
        if self._serving is None:
            if self.failure:
                raise Unavailable(f"the server failed to start: {self.failure}")
            raise Unavailable("the model is still loading; retry once the health check reports SERVING")
        return self._serving
