"""Steady load from client threads for tests that change things under traffic (a rollback, an outage)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tuneserve_client import Client


@contextmanager
def users(addresses: list[str], call: Callable[[Client, str], object]) -> Iterator[tuple[list[object], list[BaseException]]]:
    """One thread per address calling `call(client, key)` with fresh keys until the block ends;
    yields the calls' results and failures, both as they come."""
    results: list[object] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def user(address: str, n: int) -> None:
        with Client(address, timeout=120) as client:
            i = 0
            while not stop.is_set():
                try:
                    results.append(call(client, f"user-{n}-{i}"))
                except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                    failures.append(exc)
                i += 1

    threads = [threading.Thread(target=user, args=(address, n)) for n, address in enumerate(addresses)]
    for thread in threads:
        thread.start()
    try:
        yield results, failures
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)


def generate_concurrently(engine, requests: list, timeout: float = 120) -> list[tuple]:
    """Each request's whole `engine.generate` result (text, tokens, how it ended), from one thread per
    request, so they share batches as concurrent callers do."""
    results: dict[int, tuple] = {}

    def run(i: int) -> None:
        results[i] = engine.generate(requests[i], timeout=timeout)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[i] for i in range(len(requests))]


def run_concurrently(engine, requests: list) -> list[tuple[str, list[int]]]:
    """Each request's (text, tokens), generated concurrently (`generate_concurrently`)."""
    return [(text, tokens) for text, tokens, _ in generate_concurrently(engine, requests)]
