"""Answers while the decode step compiles in the background, as on a new pod.

A server process is started with an empty inductor cache (a new directory, removed after) and
`compile_decode=auto`, so it serves on the eager step while its decode graph compiles on a thread
of its own. From SERVING on, one client asks one greedy question of --tokens tokens every
--gap seconds until the compiled step is in, then --after more. Prints the answers' latency
(p50 and max, and how many took over twice the baseline) during the compile and after it, their
ratio to the after-compile p50 (the baseline, the same server in the same run), and how long the
compile took: by default for a server that compiles alone and then for one whose child process
fills the caches first (`compile_in_child`, server/compile_cache_child.py), one after the other.

Before the compile thread ran at the lowest CPU priority with quick GIL handoffs
(server/engine/background_work.py), the worst answer during a compile took about 100x the p50.

    python bench/compile_stall.py [--tokens 16] [--gap 2] [--after 10] [--child on|off|both] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, percentile, start_server  # noqa: E402

COMPILING = "eager while"  # how ModelInfo.decode_step begins while the graph compiles


def ask(client, tokens: int) -> float:
    started = time.perf_counter()
    client.generate(messages=[{"role": "user", "content": QUESTIONS[0]}], max_new_tokens=tokens, min_new_tokens=tokens, temperature=0)
    return time.perf_counter() - started


def measure(args: argparse.Namespace, child: bool) -> dict:
    """One server from a cold cache, asked one question every --gap seconds through its compile."""
    from tuneserve_client import Client

    cache = tempfile.mkdtemp(prefix="tuneserve-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # the server inherits it: a cold cache, as a new pod has
    proc, address = start_server(compile_decode="auto", compile_in_child=str(child).lower())
    started = time.perf_counter()
    during: list[float] = []
    after: list[float] = []
    compile_s = float("nan")
    try:
        with Client(address) as client:
            while client.model_info().decode_step.startswith(COMPILING):
                during.append(ask(client, args.tokens))
                print(f"  during the compile: {during[-1]:.2f} s", flush=True)
                time.sleep(args.gap)
            compile_s = time.perf_counter() - started
            print(f"compiled after {compile_s:.0f} s: {client.model_info().decode_step}", flush=True)
            for _ in range(args.after):
                after.append(ask(client, args.tokens))
                time.sleep(args.gap)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(cache, ignore_errors=True)
    baseline = percentile(after, 0.5)
    slow = [t for t in during if t > 2 * baseline]
    figures = {
        "compile_in_child": child,
        "tokens": args.tokens,
        "compile_s": round(compile_s, 1),
        "answers_during": len(during),
        "slow_answers": len(slow),  # over twice the after-compile p50
        "during_p50_s": round(percentile(during, 0.5), 3),
        "during_max_s": round(max(during, default=float("nan")), 3),
        "after_p50_s": round(baseline, 3),
        "during_p50_ratio": round(percentile(during, 0.5) / baseline, 2),
        "during_max_ratio": round(max(during, default=float("nan")) / baseline, 2),
    }
    print(
        f"compile_in_child={child}: {args.tokens}-token answers during the compile ({len(during)}, {len(slow)} over 2x) "
        f"p50 {figures['during_p50_s']} s, max {figures['during_max_s']} s; after it p50 {baseline:.3f} s; ratios to after: "
        f"p50 {figures['during_p50_ratio']}x, max {figures['during_max_ratio']}x; compile {compile_s:.0f} s",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16, help="tokens per answer (greedy, forced past EOS by min_new_tokens)")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between questions")
    parser.add_argument("--after", type=int, default=10, help="questions once the compiled step is in")
    parser.add_argument("--child", choices=["on", "off", "both"], default="both", help="compile_in_child: one server per setting")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    runs = [measure(args, child) for child in {"on": [True], "off": [False], "both": [False, True]}[args.child]]
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
