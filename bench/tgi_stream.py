"""What TGI's stream costs beside OpenAI's: tokens/s of --clients concurrent greedy streams of the
same prompts through `POST /generate_stream` (one event per token, each with its log-probability,
as TGI sends them) against `POST /v1/completions` with `stream: true`, alternating the two in one
server process (target: >= 0.9x).

    python bench/tgi_stream.py [--clients 8] [--tokens 64] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, start_server  # noqa: E402
from tests.tools import free_port  # noqa: E402


def stream(url: str, body: dict) -> int:
    """Reads one stream to its end; the tokens it carried."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    tokens = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        for line in response:
            if not line.startswith(b"data:") or line.strip() == b"data: [DONE]":
                continue
            event = json.loads(line[5:])
            if "token" in event:  # TGI: one event per token
                tokens += 1
            elif event.get("usage"):  # OpenAI: counted once, at the end
                tokens += event["usage"]["completion_tokens"]
    return tokens


def tokens_per_second(root: str, clients: int, tokens: int, tgi: bool) -> float:
    """All clients' generated tokens over the wall time of one round (each client asks twice)."""

    def client(i: int) -> int:
        made = 0
        for r in range(2):
            prompt = QUESTIONS[(i + r) % len(QUESTIONS)]
            if tgi:
                made += stream(
                    root + "/generate_stream", {"inputs": prompt, "parameters": {"max_new_tokens": tokens, "ignore_eos_token": True}}
                )
            else:
                body = {"model": "", "prompt": prompt, "max_tokens": tokens, "min_tokens": tokens, "temperature": 0, "stream": True}
                made += stream(root + "/v1/completions", {**body, "stream_options": {"include_usage": True}})
        return made

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        made = sum(pool.map(client, range(clients)))
    return made / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    http_port = free_port()
    proc, _ = start_server(compile_decode="on", http_port=str(http_port))
    root = f"http://127.0.0.1:{http_port}"
    try:
        tokens_per_second(root, args.clients, 8, tgi=True)  # warm both
        tokens_per_second(root, args.clients, 8, tgi=False)
        openai, tgi = [], []
        for _ in range(args.rounds):  # alternated, so drift of the machine falls on both alike
            openai.append(tokens_per_second(root, args.clients, args.tokens, tgi=False))
            tgi.append(tokens_per_second(root, args.clients, args.tokens, tgi=True))
    finally:
        proc.terminate()
        proc.wait(60)
    ratio = sum(tgi) / sum(openai)
    print(f"{args.clients} clients, {args.tokens} tokens each: OpenAI stream {sum(openai) / len(openai):.1f} tok/s, ", end="")
    print(f"TGI stream {sum(tgi) / len(tgi):.1f} tok/s: {ratio:.2f}x (target >= 0.9x)")
    if args.json:
        args.json.write_text(json.dumps({"openai": openai, "tgi": tgi, "ratio": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
