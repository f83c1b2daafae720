"""Adapter serving benchmark, all in one run on the same requests.

(a) tuneserve: 32 concurrent requests spread over 1, 8 and 32 distinct adapters, against the same
    32 requests on the base model alone;
(b) naive PEFT serving: one request at a time through a PeftModel holding the same adapters,
    `set_adapter` before each request;
(c) adapter load latency (LoadAdapter of an unloaded version, p50/p99) and the time from
    publishing a new version to the first response that comes from it.

The adapters are real PEFT LoRA adapters (by default rank 16 on every linear layer, the trainer's
default; `--rank 8 --targets q_proj,v_proj` is the common serving-benchmark shape) created with
`init_lora_weights=False`: random rather than trained weights, which cost exactly the
same to serve. Every request generates exactly --tokens tokens (min = max), so each system does
the same work. The four mixes of (a) run in --rounds interleaved rounds and report medians, and the ratio
within each round.
Targets: 32 adapters >= 80% of base-only tokens/s, >= 10x naive PEFT, publish-to-serving < 2 s.

    python bench/adapters.py [--tokens 64] [--rank 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, percentile, start_server  # noqa: E402
from common.model_families import ALL_LINEAR  # noqa: E402


def make_adapters(base, count: int, rank: int, targets: list[str], out: Path):
    """`count` PEFT adapters saved under out/peft/a{i}, and the PeftModel that holds them all."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    targets = base.shape.family.lora_targets(targets)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, init_lora_weights=False)
    model = get_peft_model(base.model, config, adapter_name="a0")
    for i in range(1, count):
        model.add_adapter(f"a{i}", config)
    model.save_pretrained(out / "peft", selected_adapters=[f"a{i}" for i in range(count)])
    dirs = [out / "peft" / f"a{i}" for i in range(count)]
    missing = [d for d in dirs if not (d / "adapter_model.safetensors").is_file()]
    assert not missing, f"PEFT saved no adapter at {missing[:2]}"
    return dirs, model


def published_adapters(count: int, rank: int, targets: list[str], names: list[str]):
    """The embedded base, `count` random PEFT adapters published into a fresh store as `names[i]`,
    the work directory, the store, the adapter directories and the PeftModel holding them."""
    from common.base_model import load_base_model
    from common.file_adapter_store import FileAdapterStore
    from common.settings import ModelSettings
    from server.adapters.loader import BaseSpec, manifest_for_peft_dir

    base = load_base_model(ModelSettings())
    spec = BaseSpec.from_base(base)
    work = Path(tempfile.mkdtemp(prefix="tuneserve-bench-"))
    store = FileAdapterStore(work / "store")
    dirs, peft_model = make_adapters(base, count, rank, targets, work)
    for name, directory in zip(names, dirs, strict=True):
        store.publish(directory, manifest_for_peft_dir(directory, spec, 64, name, "bench"))
    return base, spec, work, store, dirs, peft_model


async def concurrent_run(address: str, adapters: list[str], tokens: int) -> float:
    """32 concurrent requests, request i on adapters[i % len]; returns generated tokens/s."""
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    params = common_pb2.GenerationParameters(max_new_tokens=tokens, min_new_tokens=tokens)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)

        async def one(i: int) -> int:
            request = inference_pb2.GenerateRequest(
                messages=[common_pb2.ChatMessage(role="user", content=QUESTIONS[i % len(QUESTIONS)])],
                adapter=adapters[i % len(adapters)],
                parameters=params,
            )
            return (await stub.Generate(request)).usage.generated_tokens

        start = time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(32)))
        return sum(counts) / (time.perf_counter() - start)


def naive_peft(model, base, names: list[str], tokens: int) -> float:
    import torch

    tok = base.tokenizer
    start, generated = time.perf_counter(), 0
    with torch.inference_mode():
        for i in range(32):
            model.set_adapter(names[i % len(names)])
            text = tok.apply_chat_template(
                [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], tokenize=False, add_generation_prompt=True
            )
            ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            out = model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
            generated += out.shape[1] - ids.shape[1]
    return generated / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the four mixes; medians are reported")
    parser.add_argument("--targets", default=ALL_LINEAR, help="comma-separated target modules, or all-linear")
    args = parser.parse_args()

    from tuneserve_client import Client

    from server.adapters.loader import manifest_for_peft_dir

    names = [f"bench{i}" for i in range(32)]
    base, spec, work, store, dirs, peft_model = published_adapters(32, args.rank, args.targets.split(","), names)

    proc, address = start_server(adapter_store=str(store.root), max_loras="32", adapter_watch="events")
    mixes = {"base": [""], **{f"{n} adapters": names[:n] for n in (1, 8, 32)}}
    runs: dict[str, list[float]] = {mix: [] for mix in mixes}
    try:
        with Client(address) as client:
            for name in names:
                client.load_adapter(name)
        for adapters in mixes.values():  # warm-up
            asyncio.run(concurrent_run(address, adapters, 8))
        # rounds interleave the mixes, so a slow spell of a shared machine falls on all of them, every
        # other round in reverse order, so that a drift within rounds does not favour one mix
        for round_ in range(args.rounds):
            for mix in list(mixes) if round_ % 2 == 0 else reversed(mixes):
                runs[mix].append(asyncio.run(concurrent_run(address, mixes[mix], args.tokens)))
        load_times = []
        with Client(address) as client:
            for name in names[:16]:
                client.unload_adapter(name)
                started = time.perf_counter()
                client.load_adapter(name)
                load_times.append(time.perf_counter() - started)
            swap_times = []
            for i in range(5):
                started = time.perf_counter()
                version = store.publish(dirs[(i + 1) % 32], manifest_for_peft_dir(dirs[(i + 1) % 32], spec, 64, names[0], "bench"))
                while client.generate("Hi", adapter=names[0], max_new_tokens=1).adapter != f"{names[0]}@{version}":
                    pass
                swap_times.append(time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(30)
    naive = naive_peft(peft_model, base, [f"a{i}" for i in range(32)], args.tokens)
    shutil.rmtree(work, ignore_errors=True)

    results = {mix: statistics.median(values) for mix, values in runs.items()}
    for name, tps in results.items():
        rounds = ", ".join(f"{v:.1f}" for v in runs[name])
        share = tps / results["base"]
        print(f"tuneserve, 32 concurrent requests, {name:>11}: {tps:7.1f} tok/s ({share:.0%} of base-only; rounds {rounds})")
    print(f"naive PEFT, one at a time with set_adapter:        {naive:7.1f} tok/s")
    per_round = [mixed / alone for mixed, alone in zip(runs["32 adapters"], runs["base"], strict=True)]
    print(
        f"32 adapters / base-only (target >= 0.80): {results['32 adapters'] / results['base']:.2f} (ratio of the medians); "
        f"within each round {', '.join(f'{r:.2f}' for r in per_round)}, median {statistics.median(per_round):.2f}"
    )
    print(f"32 adapters / naive PEFT (target >= 10): {results['32 adapters'] / naive:.1f}")
    print(
        f"adapter load latency p50 {percentile(load_times, 0.5) * 1000:.0f} ms, p99 "
        f"{percentile(load_times, 0.99) * 1000:.0f} ms (LoadAdapter RPC, rank {args.rank}, {args.targets})"
    )
    print(
        "publish to first response from the new version: p50 "
        f"{percentile(swap_times, 0.5):.2f} s, max {max(swap_times):.2f} s (target < 2 s)"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {base.device}, "
        f"{base.quantization}, {str(base.dtype).removeprefix('torch.')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
