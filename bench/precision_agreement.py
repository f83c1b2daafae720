"""How far the automatic precision's greedy tokens follow float32's on a model, in one run.

Loads the model twice (float32 unquantized, and the precision `auto` picks here: bf16 with int4
decode copies on a CPU with native bf16), generates greedy tokens for the same prompts on both
engines and prints, per prompt, how many leading tokens agree, and the share of prompts that agree
throughout. Where int4 decode weights differ from the file's own (Gemma 3's Q4_K_M is not the Q4_1
layout the int4 copies reproduce), this is the measured agreement the family tests state.

    python bench/precision_agreement.py [--model PATH|gemma3] [--tokens 32] [--plain]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peer import PROMPTS, model_path, plain_prompt  # noqa: E402


def greedy(base, prompts: list[list[int]], tokens: int) -> list[list[int]]:
    from server.engine.engine import Engine, EngineConfig
    from server.engine.request import GenerationRequest
    from server.engine.sampling import SamplingParams

    config = EngineConfig(max_batch_size=8, max_batch_tokens=256, max_waiting=64, num_blocks=512, block_size=16, max_model_len=2048)
    engine = Engine(base, config)
    engine.start()
    try:
        params = SamplingParams(max_new_tokens=tokens, min_new_tokens=tokens)
        requests = [GenerationRequest(f"p-{i}", tuple(ids), params, arrival=time.monotonic()) for i, ids in enumerate(prompts)]
        return [engine.generate(request)[1] for request in requests]
    finally:
        engine.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="", help="a GGUF file or model directory (default: the embedded model); 'gemma3'")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--plain", action="store_true", help="plain prompts (a model without a chat template)")
    args = parser.parse_args()
    from common.base_model import load_base_model
    from common.prompting import encode, render_chat
    from common.settings import ModelSettings
    from common.threads import run_on_fresh_thread

    model = str(model_path(args.model)) if args.model != "" else "embedded"
    exact = run_on_fresh_thread(lambda: load_base_model(ModelSettings(model=model, dtype="float32", quantization="none")))
    tokenizer = exact.tokenizer
    if args.plain:
        prompts = [encode(tokenizer, plain_prompt(q), add_special_tokens=True) for q in PROMPTS]
    else:
        prompts = [encode(tokenizer, render_chat(tokenizer, [{"role": "user", "content": q}])) for q in PROMPTS]
    reference = run_on_fresh_thread(lambda: greedy(exact, prompts, args.tokens))
    auto = run_on_fresh_thread(lambda: load_base_model(ModelSettings(model=model)))
    served = run_on_fresh_thread(lambda: greedy(auto, prompts, args.tokens))
    prefixes = []
    for ours, theirs in zip(served, reference, strict=True):
        prefixes.append(next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b), len(theirs)))
    whole = sum(p == args.tokens for p in prefixes)
    print(f"model {Path(model).name}; auto precision: {auto.quantization}, {auto.precision.dtype_name}; {args.tokens} greedy tokens")
    print(f"leading tokens equal to float32's, per prompt: {prefixes}")
    print(f"prompts equal throughout: {whole} of {len(prefixes)}; mean leading agreement {sum(prefixes) / len(prefixes):.1f} tokens")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
