"""Runs the compiled CPU decode step on tiny models in a process of their own, for
test_engine_mechanics: each family's graphs are new code objects to dynamo, and six families'
compiles in the test process would use up its recompile limit for the tests after them. Dynamo's
caches are reset between families here, for the same reason.

python -m tests.mechanics.compiled_decode_run MODEL_DIR ADAPTER_DIR [MODEL_DIR ADAPTER_DIR ...] prints
one JSON list, an object per model: how decode steps ran, the greedy tokens of each prompt alone, and
of a mixed batch of base and adapter rows; under LongRoPE also of a prompt past the original window
and of one whose decoding crosses it, with their prompts."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch._dynamo.utils import counters

from common.file_adapter_store import FileAdapterStore
from server.adapters.loader import BaseSpec, load_stored
from server.engine.decode_graph import DecodeGraph
from server.engine.model_runner import StepBatch
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams
from tests import load
from tests.adapter_training import publish
from tests.mechanics.test_engine_mechanics import NEW_TOKENS, PROMPTS, make_engine, request
from tests.tiny_model import load_tiny

TEXTS = PROMPTS[:3]
SERVING_MARK = "== compiled; serving"
LONG_TEXT = " ".join(f"the sky is blue {i}, the grass is green." for i in range(120))


class CountingGraph:
    """The engine's decode graph, counting the steps it runs, with and without adapter rows."""

    def __init__(self, graph: DecodeGraph) -> None:
        self.graph = graph
        self.steps = {"base": 0, "lora": 0, "long rope": 0}

    @property
    def takes_lora(self) -> bool:
        return self.graph.takes_lora

    def __call__(self, batch: StepBatch) -> torch.Tensor:
        self.steps["lora" if batch.lora is not None and batch.lora.groups else "base"] += 1
        self.steps["long rope"] += batch.rope_rows is not None
        return self.graph(batch)


def main(model_dir: Path, adapter_dir: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="compiled-decode-") as work:
        return serve_compiled(model_dir, adapter_dir, Path(work))


def serve_compiled(model_dir: Path, adapter_dir: Path, work: Path) -> dict[str, object]:
    base = load_tiny(model_dir)
    spec = BaseSpec.from_base(base)
    store = FileAdapterStore(work / "store")
    adapter = load_stored(store.root, "compiled", publish(store, adapter_dir, "compiled", spec), spec, 16)
    engine = make_engine(base, compile_decode="on", max_loras=2, max_lora_rank=16)
    engine.start()
    assert engine.decode_graph is not None, engine.decode_step
    compiled_at_start = counters["stats"]["unique_graphs"]
    print(SERVING_MARK, file=sys.stderr, flush=True)  # what TORCH_LOGS=recompiles writes after it happened while serving
    counting = CountingGraph(engine.decode_graph)
    engine.decode_graph = counting  # type: ignore[assignment]
    try:
        alone = [engine.generate(request(base, text, f"c-{i}"), timeout=120)[1] for i, text in enumerate(TEXTS)]
        requests = [request(base, text, f"cb-{i}") for i, text in enumerate(TEXTS)]
        requests += [request(base, text, f"ca-{i}", adapter=adapter) for i, text in enumerate(TEXTS)]
        mixed = [tokens for _, tokens in load.run_concurrently(engine, requests)]
        long = {}  # LongRoPE: a prompt past the original window, and one whose decoding crosses it
        if base.shape.long_rope_from is not None:
            ids = base.tokenizer(LONG_TEXT, add_special_tokens=False)["input_ids"]
            for name, length in (("long", base.shape.long_rope_from + 40), ("crossing", base.shape.long_rope_from - 8)):
                params = SamplingParams(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
                prompt = ids[:length]
                long[name] = (
                    prompt,
                    engine.generate(GenerationRequest(f"c-{name}", tuple(prompt), params, time.monotonic()), timeout=120)[1],
                )
    finally:
        engine.stop()
    return {
        "decode_step": engine.decode_step,
        "alone": alone,
        "mixed": mixed,
        "long": long,
        "graph_steps": counting.steps,
        "compiled_while_serving": counters["stats"]["unique_graphs"] - compiled_at_start,
    }


def run_all(paths: list[str]) -> list[dict[str, object]]:
    results = []
    for model_dir, adapter_dir in zip(paths[::2], paths[1::2], strict=True):
        print(f"== {model_dir}", file=sys.stderr, flush=True)  # where the next family's log begins
        results.append(main(Path(model_dir), Path(adapter_dir)))
        torch._dynamo.reset()
    return results


if __name__ == "__main__":
    print(json.dumps(run_all(sys.argv[1:])))
