"""Finding stop strings in generated text, and how much text is safe to stream before one ends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StopMatch:
    index: int  # where the stop string starts in the text
    stop: str


class StopStrings:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self.stops), default=0)

    def find(self, text: str, new_from: int) -> StopMatch | None:
        """Earliest stop string in `text` that ends at or after `new_from` (where new text began)."""
        if not self.stops:
            return None
        start = max(0, new_from - self._longest + 1)
        best: StopMatch | None = None
        for stop in self.stops:
            index = text.find(stop, start)
            if index >= 0 and (best is None or index < best.index):
                best = StopMatch(index, stop)
        return best

    def safe_length(self, text: str) -> int:
        """Length of the prefix of `text` that cannot be the start of a stop string."""
        for keep in range(min(self._longest - 1, len(text)), 0, -1):
            tail = text[-keep:]
            if any(stop.startswith(tail) for stop in self.stops):
                return len(text) - keep
        return len(text)
