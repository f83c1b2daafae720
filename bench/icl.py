"""Few-shot and classification benchmark, all in one run.

Prefix cache: repeated 8-shot requests (about 1,000 prompt tokens: the same labelling guidelines and
8 movie reviews with their labels, a different review to label each time) sent one after another to a
server with prefix caching and to one without; TTFT and tokens/s of each. Target: cached TTFT p50
at most 0.3x uncached.

Classify: inputs per second of ClassifyBatch on a 2-label and a 10-label task (zero-shot, base
model) against plain transformers answering each input with one greedy `generate` call on the same
prompt. Target: at least 5x.

    python examples/sentiment/prepare.py     # once: the reviews
    python bench/icl.py [--requests 20] [--inputs 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import percentile, start_server  # noqa: E402

DATA = ROOT / "examples" / "sentiment" / "data"
INSTRUCTION = "Is this movie review positive or negative?"
# The labelling guidelines a team would put in front of its demonstrations; with the 8 longest
# reviews of the training split they make the ~1,000-token few-shot prompt of the benchmark.
GUIDELINES = """You label short movie reviews from critics for a film-recommendation service. Read the review
and answer with exactly one word: positive or negative. Guidelines:
1. Judge the critic's overall verdict on the film, not the plot. A review of a sad or violent story
can be positive, and a review of a cheerful comedy can be negative.
2. Praise for one part (the acting, the score, the photography) does not make a review positive when
the critic says the film as a whole does not work. Weigh the conclusion over the details.
3. Faint praise ("watchable", "harmless", "not bad for a sequel") is usually negative. Measured
praise with reservations ("flawed but rewarding") is usually positive.
4. Irony and sarcasm are common: "a triumph of marketing over storytelling" is negative. Read the
whole sentence before deciding.
5. Comparisons count: "better than the original" is positive only if the critic liked the original
or says the new film is good on its own terms.
6. Ignore the reviewer's opinion of the actors' other films, the studio, or the audience; only their
verdict on this film matters.
7. If a review is mixed, ask whether the critic would recommend seeing it. Recommend: positive.
Warn off: negative.
8. Never answer with anything but the label: no explanation, no punctuation, no second word.
9. Reviews may contain spoilers, quotes from the film, or character names; they are not signals by
themselves.
10. Very short reviews ("A mess.", "Pure joy.") are as reliable as long ones; do not guess from length.
Examples of labelled reviews follow. Label the last review the same way."""

STARS = [
    "one star",
    "two stars",
    "three stars",
    "four stars",
    "five stars",
    "six stars",
    "seven stars",
    "eight stars",
    "nine stars",
    "ten stars",
]


def reviews() -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / "train.jsonl").read_text().splitlines()]


def few_shot_requests(rows: list[dict[str, str]], count: int, tokenizer) -> tuple[list[tuple[str, str]], list[str]]:
    """Eight demonstrations making a prompt of about 1,000 tokens, and `count` queries."""
    long_rows = sorted(rows[:1000], key=lambda r: -len(r["text"]))
    demos, tokens = [], 0
    for row in long_rows:
        if len(demos) == 8:
            break
        demos.append((row["text"], row["label"]))
        tokens += len(tokenizer(row["text"])["input_ids"]) + 12
    queries = [r["text"] for r in rows[1000 : 1000 + count]]
    return demos, queries


def ttft_run(address: str, demos: list[tuple[str, str]], queries: list[str]) -> tuple[list[float], float, list[int]]:
    from tuneserve_client import Client

    ttfts, tokens, cached = [], 0, []
    started = time.perf_counter()
    with Client(address) as client:
        for query in queries:
            begin = time.perf_counter()
            first = None
            for chunk in client.generate_stream(
                few_shot={"query": query, "demos": demos, "instruction": GUIDELINES}, max_new_tokens=16, min_new_tokens=16
            ):
                if chunk.token_ids and first is None:
                    first = time.perf_counter() - begin
                tokens += len(chunk.token_ids)
                if chunk.prompt_info.prompt_tokens:
                    cached.append(chunk.prompt_info.cached_prompt_tokens)
                    prompt_tokens = chunk.prompt_info.prompt_tokens
            ttfts.append(first or 0.0)
    print(f"    prompt {prompt_tokens} tokens", file=sys.stderr)
    return ttfts, tokens / (time.perf_counter() - started), cached


def classify_run(address: str, task: str, inputs: list[str]) -> float:
    from tuneserve_client import Client

    with Client(address, timeout=600) as client:
        client.classify_batch(task, inputs[:4])  # warm-up
        started = time.perf_counter()
        results = client.classify_batch(task, inputs)
        assert len(results) == len(inputs)
        return len(inputs) / (time.perf_counter() - started)


def generate_baseline(base, spec_fields: dict, inputs: list[str]) -> float:
    """One greedy generate call per input with plain transformers, on the same prompt."""
    import torch

    from common.task_spec import TaskSpec, completion_ids, prompt_ids, render_prompt

    spec = TaskSpec(**spec_fields)
    tok = base.tokenizer
    longest = max(len(completion_ids(tok, spec, label, tok.eos_token_id)) for label in spec.labels)
    with torch.inference_mode():
        started = time.perf_counter()
        for text in inputs:
            ids = torch.tensor([prompt_ids(tok, render_prompt(tok, spec, text))])
            base.model.generate(
                ids, max_new_tokens=longest, do_sample=False, eos_token_id=sorted(base.eos_token_ids), pad_token_id=tok.pad_token_id
            )
    return len(inputs) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--inputs", type=int, default=64)
    args = parser.parse_args()
    if not (DATA / "train.jsonl").is_file():
        print("run python examples/sentiment/prepare.py first", file=sys.stderr)
        return 2
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    base = load_base_model(ModelSettings())
    rows = reviews()
    demos, queries = few_shot_requests(rows, args.requests, base.tokenizer)
    results = {}
    for name, caching in (("prefix cache", "true"), ("no prefix cache", "false")):
        proc, address = start_server(prefix_caching=caching)
        try:
            ttft_run(address, demos, queries[:2])  # warm-up (and, with the cache, the prefix's first computation)
            ttfts, tps, cached = ttft_run(address, demos, queries)
        finally:
            proc.terminate()
            proc.wait(30)
        results[name] = {
            "ttft_p50": statistics.median(ttfts),
            "ttft_p90": percentile(ttfts, 0.9),
            "tokens_per_s": tps,
            "cached_tokens_p50": statistics.median(cached),
        }
        r = results[name]
        print(
            f"{name:>16}: TTFT p50 {r['ttft_p50'] * 1000:.0f} ms, p90 {r['ttft_p90'] * 1000:.0f} ms, "
            f"{r['tokens_per_s']:.1f} tok/s, cached prompt tokens p50 {r['cached_tokens_p50']:.0f}",
            flush=True,
        )
    ratio = results["prefix cache"]["ttft_p50"] / results["no prefix cache"]["ttft_p50"]
    print(f"cached / uncached TTFT p50 (target <= 0.3): {ratio:.2f}")

    inputs = [r["text"] for r in rows[1500 : 1500 + args.inputs]]
    tasks = {
        "two": {"name": "two", "kind": "classification", "instruction": INSTRUCTION, "labels": ["positive", "negative"]},
        "ten": {
            "name": "ten",
            "kind": "classification",
            "instruction": "How many stars, out of ten, does this review give?",
            "labels": STARS,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        for spec in tasks.values():
            (Path(tmp) / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
        proc, address = start_server(task_dir=tmp, max_batch_size="32")
        try:
            served = {name: classify_run(address, name, inputs) for name in tasks}
        finally:
            proc.terminate()
            proc.wait(30)
    for name, spec in tasks.items():
        baseline = generate_baseline(base, spec, inputs[:16])
        print(
            f"Classify, {len(spec['labels']):>2} labels: {served[name]:6.2f} "
            f"inputs/s; transformers generate per input: {baseline:6.2f} inputs/s; "
            f"ratio {served[name] / baseline:.1f} (target >= 5)",
            flush=True,
        )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {base.device}, "
        f"{base.quantization}, {str(base.dtype).removeprefix('torch.')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
