"""What log-probabilities cost: tokens/s of --clients concurrent greedy streams with
`top_logprobs=5` against the same streams without, alternating the two in one server process
(target: >= 0.9x).

    python bench/logprobs.py [--clients 8] [--tokens 64] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, start_server  # noqa: E402


async def tokens_per_second(address: str, clients: int, tokens: int, top_logprobs: int | None) -> float:
    """All clients' generated tokens over the wall time of one round (each client asks twice)."""
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)

        async def client(i: int) -> int:
            made = 0
            for r in range(2):
                params = common_pb2.GenerationParameters(max_new_tokens=tokens, min_new_tokens=tokens, temperature=0.0)
                if top_logprobs is not None:
                    params.logprobs, params.top_logprobs = True, top_logprobs
                message = common_pb2.ChatMessage(role="user", content=QUESTIONS[(i + r) % len(QUESTIONS)])
                response = await stub.Generate(inference_pb2.GenerateRequest(messages=[message], parameters=params))
                assert len(response.logprobs) == (len(response.token_ids) if top_logprobs is not None else 0)
                made += len(response.token_ids)
            return made

        start = time.perf_counter()
        made = sum(await asyncio.gather(*(client(i) for i in range(clients))))
        return made / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    proc, address = start_server(compile_decode="on")
    try:
        asyncio.run(tokens_per_second(address, args.clients, 8, None))  # warm
        plain, with_logprobs = [], []
        for _ in range(args.rounds):  # alternated, so drift of the machine falls on both alike
            plain.append(asyncio.run(tokens_per_second(address, args.clients, args.tokens, None)))
            with_logprobs.append(asyncio.run(tokens_per_second(address, args.clients, args.tokens, 5)))
    finally:
        proc.terminate()
        proc.wait(60)
    ratio = sum(with_logprobs) / sum(plain)
    print(f"{args.clients} clients, {args.tokens} tokens each: without logprobs {sum(plain) / len(plain):.1f} tok/s, ", end="")
    print(f"with top_logprobs=5 {sum(with_logprobs) / len(with_logprobs):.1f} tok/s: {ratio:.2f}x (target >= 0.9x)")
    if args.json:
        args.json.write_text(json.dumps({"plain": plain, "logprobs": with_logprobs, "ratio": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
