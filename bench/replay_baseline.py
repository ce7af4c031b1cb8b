"""The replay benchmark's baseline: a plain HTTP client posting the same request bodies to the
same receiver, from as many processes as the delivery side has workers.

Each process holds one keep-alive `httpx.Client` (as a delivery worker does) and posts its share
of the requests one after another. The processes are spawned and warmed (connection open) first;
the clock runs from a common start signal until the last one finishes. No Django here: this is
what "just POST the bytes" costs, the floor any delivery machinery is compared to.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class BaselineResult:
    rate: float  # requests per second, all processes together
    seconds: float
    statuses: dict[int, int]
    client_cpu_seconds: float


def _poster(url: str, requests: list[tuple[bytes, dict]], ready, go, results) -> None:
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        client.get(url)  # opens the keep-alive connection (405: records nothing)
        ready.put(True)
        go.wait()
        cpu = time.process_time()
        for body, headers in requests:
            try:
                status = client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
        results.put((statuses, time.process_time() - cpu))


def baseline_run(url: str, requests: list[tuple[bytes, dict]], *, processes: int) -> BaselineResult:
    """POST every request to `url`, split round-robin over `processes` sequential clients."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_poster, args=(url, requests[i::processes], ready, go, results), daemon=True)
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    statuses: dict[int, int] = {}
    cpu = 0.0
    for _ in workers:
        theirs, their_cpu = results.get(timeout=3600)
        cpu += their_cpu
        for status, count in theirs.items():
            statuses[status] = statuses.get(status, 0) + count
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=30)
    return BaselineResult(
        rate=len(requests) / seconds, seconds=seconds, statuses=statuses, client_cpu_seconds=cpu
    )
