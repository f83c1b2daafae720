"""What keeping responses costs: the latency of Responses API calls that are stored (and continued
by `previous_response_id`) against the same calls with `store: false`, alternated in one server
with responses_store on, in its SQLite file or a PostgreSQL (--database-url); target >= 0.95x
(a stored call's p50 latency within 5% of an unstored one's).

    python bench/responses_store.py [--clients 4] [--calls 24] [--tokens 16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, start_server  # noqa: E402
from tests.tools import free_port  # noqa: E402


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def latencies(url: str, clients: int, calls: int, tokens: int, store: bool) -> list[float]:
    """Each call's seconds: every client asks a question, then continues its own answer (by
    previous_response_id where stored, by sending the conversation where not)."""

    def client(i: int) -> list[float]:
        taken = []
        for k in range(calls // clients):
            question = QUESTIONS[(i + k) % len(QUESTIONS)]
            body = {"model": "", "input": question, "max_output_tokens": tokens, "temperature": 0, "store": store}
            start = time.perf_counter()
            first = post(url, body)
            taken.append(time.perf_counter() - start)
            said = first["output"][0]["content"][0]["text"]
            if store:
                body = {**body, "input": "Say more.", "previous_response_id": first["id"]}
            else:
                history = [{"role": "user", "content": question}, {"role": "assistant", "content": said}]
                body = {**body, "input": [*history, {"role": "user", "content": "Say more."}]}
            start = time.perf_counter()
            post(url, body)
            taken.append(time.perf_counter() - start)
        return taken

    with ThreadPoolExecutor(clients) as pool:
        return [t for taken in pool.map(client, range(clients)) for t in taken]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    http_port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        where = {"database_url": args.database_url} if args.database_url else {"experiment_db": f"{scratch}/record.sqlite"}
        proc, _ = start_server(compile_decode="on", http_port=str(http_port), responses_store="true", **where)
        url = f"http://127.0.0.1:{http_port}/v1/responses"
        try:
            latencies(url, args.clients, args.clients, 4, store=True)  # warm both paths
            latencies(url, args.clients, args.clients, 4, store=False)
            stored, unstored = [], []
            for _ in range(args.rounds):  # alternated, so drift of the machine falls on both alike
                unstored += latencies(url, args.clients, args.calls, args.tokens, store=False)
                stored += latencies(url, args.clients, args.calls, args.tokens, store=True)
        finally:
            proc.terminate()
            proc.wait(60)
    ratio = statistics.median(unstored) / statistics.median(stored)
    print(
        f"{len(stored)} calls each, {args.clients} clients, {args.tokens} tokens: p50 stored {statistics.median(stored) * 1000:.1f} ms, ",
        end="",
    )
    print(f"not stored {statistics.median(unstored) * 1000:.1f} ms: {ratio:.2f}x (target >= 0.95x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
