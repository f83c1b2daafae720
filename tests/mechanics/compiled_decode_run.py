"""Runs the compiled CPU decode step on tiny models in a process of their own, for
test_engine_mechanics: each family's graphs are new code objects to dynamo, and six families'
compiles in the test process would use up its recompile limit for the tests after them. Dynamo's
caches are reset between families here, for the same reason.

python -m tests.mechanics.compiled_decode_run MODEL_DIR ADAPTER_DIR [MODEL_DIR ADAPTER_DIR ...] prints
one JSON list, an object per model: how decode steps ran, the greedy tokens of each prompt alone, and
of a mixed batch of base and adapter rows."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from torch._dynamo.utils import counters

from common.file_adapter_store import FileAdapterStore
from server.adapters.loader import BaseSpec, load_stored
from server.engine.decode_graph import DecodeGraph
from server.engine.model_runner import StepBatch
from tests import load
from tests.adapter_training import publish
from tests.mechanics.test_engine_mechanics import PROMPTS, make_engine, request
from tests.tiny_model import load_tiny

TEXTS = PROMPTS[:3]


class CountingGraph:
    """The engine's decode graph, counting the steps it runs, with and without adapter rows."""

    def __init__(self, graph: DecodeGraph) -> None:
        self.graph = graph
        self.steps = {"base": 0, "lora": 0}

    @property
    def takes_lora(self) -> bool:
        return self.graph.takes_lora

    def __call__(self, batch: StepBatch) -> torch.Tensor:
        self.steps["lora" if batch.lora is not None and batch.lora.groups else "base"] += 1
        return self.graph(batch)


def main(model_dir: Path, adapter_dir: Path) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="compiled-decode-"))
    base = load_tiny(model_dir)
    spec = BaseSpec.from_base(base)
    store = FileAdapterStore(work / "store")
    adapter = load_stored(store.root, "compiled", publish(store, adapter_dir, "compiled", spec), spec, 16)
    engine = make_engine(base, compile_decode="on", max_loras=2, max_lora_rank=16)
    engine.start()
    assert engine.decode_graph is not None, engine.decode_step
    compiled_at_start = counters["stats"]["unique_graphs"]
    counting = CountingGraph(engine.decode_graph)
    engine.decode_graph = counting  # type: ignore[assignment]
    try:
        alone = [engine.generate(request(base, text, f"c-{i}"), timeout=120)[1] for i, text in enumerate(TEXTS)]
        requests = [request(base, text, f"cb-{i}") for i, text in enumerate(TEXTS)]
        requests += [request(base, text, f"ca-{i}", adapter=adapter) for i, text in enumerate(TEXTS)]
        mixed = [tokens for _, tokens in load.run_concurrently(engine, requests)]
    finally:
        engine.stop()
    return {
        "decode_step": engine.decode_step,
        "alone": alone,
        "mixed": mixed,
        "graph_steps": counting.steps,
        "compiled_while_serving": counters["stats"]["unique_graphs"] - compiled_at_start,
    }


def run_all(paths: list[str]) -> list[dict[str, object]]:
    results = []
    for model_dir, adapter_dir in zip(paths[::2], paths[1::2], strict=True):
        results.append(main(Path(model_dir), Path(adapter_dir)))
        torch._dynamo.reset()
    return results


if __name__ == "__main__":
    print(json.dumps(run_all(sys.argv[1:])))
