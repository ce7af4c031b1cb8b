"""The simulator loop: start flows at a steady rate, post their steps when due, count answers.

Real time and simulated time: a flow's step due `d` simulated seconds after the flow started is
sent `d / speed` real seconds after it. Steps due within one tick go out together, so bursts
(middleware hops, milestones of parallel flows) become CloudEvents batches.
"""

from __future__ import annotations

import heapq
import itertools
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from .flows import FlowFactory
from .model import FaultMix, Step
from .outages import Outages, Switch, sandbox_switch
from .sender import RetryLater, Tally, plan_requests, post

MAX_BACKOFF = 15.0


@dataclass
class Stats:
    """Everything a run did, for the periodic log line and the final summary."""

    flows_started: int = 0
    flows_completed: int = 0
    steps_sent: int = 0
    retries: int = 0
    unsent: int = 0
    tally: Tally = field(default_factory=Tally)
    kinds: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)

    def line(self) -> str:
        t = self.tally
        return (
            f"flows {self.flows_started} started, {self.flows_completed} done | {self.steps_sent} messages in "
            f"{t.requests} requests: {t.accepted} accepted, {t.duplicate} duplicate, {t.rejected} rejected | "
            f"http errors {t.http_errors}, retries {self.retries}"
        )

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.kinds.items())) or "none"
        faults = ", ".join(f"{name} {n}" for name, n in sorted(self.faults.items())) or "none"
        return f"Summary: {self.line()} | unsent {self.unsent}\n  flows: {kinds}\n  faults injected: {faults}"


def _fault_name(text: str) -> str:
    """'late confirmation: PO 45…' → 'late confirmation' (for counting)."""
    return text.split(":", 1)[0]


class Simulator:
    """Streams flows to a running control tower through its public HTTP API.

    Guarantees: never raises on connection errors or error answers (they are retried with
    backoff, or counted); every step is sent at least once unless the run ends first (a repeat
    after a lost answer is answered `duplicate`, since ids are kept); stops after `max_flows`
    completed flows, after `duration` seconds or on SIGINT/SIGTERM, whichever comes first.
    """

    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        rng: random.Random,
        flows_per_minute: float = 6.0,
        speed: float = 60.0,
        faults: FaultMix | None = None,
        batch: bool = True,
        *,
        epcis_share: float = 0.2,
        binary_share: float = 0.1,
        max_flows: int | None = None,
        duration: float | None = None,
        tick: float = 0.5,
        log: Callable[[str], None] | None = None,
        log_every: float = 15.0,
        verbose: bool = False,
        client: httpx.Client | None = None,
        outage_switch: Switch = sandbox_switch,
    ) -> None:
        if flows_per_minute <= 0 or speed <= 0:
            raise ValueError("flows_per_minute and speed must be positive")
        self.tokens, self.speed, self.batch = tokens, speed, batch
        self.interval = 60.0 / flows_per_minute
        self.factory = FlowFactory(random.Random(rng.getrandbits(64)), faults=faults, epcis_share=epcis_share)
        self.transport_rng = random.Random(rng.getrandbits(64))  # separate: send timing must not change flows
        self.outages = Outages(
            random.Random(self.transport_rng.getrandbits(64)),
            self.factory.faults.target_outages,
            switch=outage_switch,
            log=log,
        )
        self.binary_share, self.max_flows, self.duration, self.tick = binary_share, max_flows, duration, tick
        self.log, self.log_every, self.verbose = log or (lambda _: None), log_every, verbose
        self.client = client or httpx.Client(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(10.0, connect=3.0)
        )
        self._owns_client = client is None
        self.stats = Stats()
        self._heap: list[tuple[float, int, int, Step]] = []
        self._seq = itertools.count()
        self._remaining: dict[int, int] = {}
        self._stopping = False
        self._backoff = 0.0
        self._retry_at = 0.0
        self._down_since: float | None = None
        self._problems_seen: set[str] = set()

    def stop(self) -> None:
        """Ask the loop to end after the request in flight (safe from a signal handler)."""
        self._stopping = True

    def run(self) -> Stats:
        """Run until done (see the class guarantees); returns the statistics."""
        start = time.monotonic()
        next_flow, next_log = start, start + self.log_every
        try:
            with self._signals():
                while not self._stopping and not self._finished(start):
                    now = time.monotonic()
                    while self._may_start() and next_flow <= now:
                        self._start_flow(next_flow)
                        next_flow += self.interval
                    if now >= self._retry_at:
                        self._send(self._pop_due(now))
                    if now >= next_log:
                        self.log(self.stats.line())
                        next_log = now + self.log_every
                    if not self._finished(start):
                        time.sleep(self.tick)
        finally:
            self.outages.stop()  # never leave a target down after the run
            self.stats.unsent = len(self._heap)
            if self._owns_client:
                self.client.close()
        return self.stats

    def _finished(self, start: float) -> bool:
        if self.duration is not None and time.monotonic() - start >= self.duration:
            return True
        return self.max_flows is not None and self.stats.flows_completed >= self.max_flows

    def _may_start(self) -> bool:
        return self.max_flows is None or self.stats.flows_started < self.max_flows

    def _start_flow(self, at: float) -> None:
        # `at` is when the flow was meant to start, so the rate holds even when a tick runs late.
        flow = self.factory.next(start=datetime.now(UTC), speed=self.speed)
        number = self.stats.flows_started
        self.stats.flows_started += 1
        self.stats.kinds[flow.kind] += 1
        self.stats.faults.update(_fault_name(f) for f in flow.faults)
        self.outages.flow_started(self.stats.flows_started)
        if self.outages.started:
            self.stats.faults["target outage"] = self.outages.started
        self._remaining[number] = len(flow.steps)
        for step in flow.steps:
            heapq.heappush(self._heap, (at + step.due / self.speed, next(self._seq), number, step))
        if self.verbose:
            faults = f" — faults: {', '.join(flow.faults)}" if flow.faults else ""
            self.log(
                f"flow {number + 1}: {flow.kind} {flow.key}, {len(flow.steps)} messages over "
                f"{flow.duration / 60:.0f} simulated min{faults}"
            )

    def _pop_due(self, now: float) -> list[tuple[int, Step]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, _, number, step = heapq.heappop(self._heap)
            due.append((number, step))
        return due

    def _send(self, due: list[tuple[int, Step]]) -> None:
        if not due:
            return
        flows = {id(step): number for number, step in due}
        for request in plan_requests(
            [s for _, s in due], batch=self.batch, rng=self.transport_rng, binary_share=self.binary_share
        ):
            if self._stopping or time.monotonic() < self._retry_at:  # stopping, or the server just failed
                self._requeue(request.steps, flows, delay=max(0.0, self._retry_at - time.monotonic()))
                continue
            token = self.tokens.get(request.system)
            if token is None:
                self.stats.tally.add(Tally(http_errors=1, problems=[f"no token for {request.system}"]))
                self._done(request.steps, flows)
                continue
            try:
                answer = post(self.client, request, token)
            except RetryLater as exc:
                self._failed(request.steps, flows, str(exc))
                continue
            self._recovered()
            for problem in answer.problems:  # each kind once; repeats only count as http errors
                if problem not in self._problems_seen:
                    self._problems_seen.add(problem)
                    self.log(f"warning: {problem} (repeats are counted, not logged)")
            answer.problems = []
            self.stats.tally.add(answer)
            self._done(request.steps, flows)

    def _done(self, steps: list[Step], flows: dict[int, int]) -> None:
        for step in steps:
            number = flows[id(step)]
            self.stats.steps_sent += 1
            self._remaining[number] -= 1
            if self._remaining[number] == 0:
                self.stats.flows_completed += 1
                del self._remaining[number]

    def _requeue(self, steps: list[Step], flows: dict[int, int], *, delay: float) -> None:
        at = time.monotonic() + delay
        for step in steps:
            heapq.heappush(self._heap, (at, next(self._seq), flows[id(step)], step))

    def _failed(self, steps: list[Step], flows: dict[int, int], reason: str) -> None:
        """No definite answer: keep the messages, wait longer each time (capped), say so once."""
        self._backoff = min(MAX_BACKOFF, self._backoff * 2 if self._backoff else 0.5)
        self._retry_at = time.monotonic() + self._backoff
        self.stats.retries += 1
        self._requeue(steps, flows, delay=self._backoff)
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.log(f"server not answering ({reason}); holding messages and retrying with backoff")

    def _recovered(self) -> None:
        if self._down_since is not None:
            self.log(f"server answering again after {time.monotonic() - self._down_since:.1f}s")
        self._down_since, self._backoff = None, 0.0

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM end the run cleanly (only the main thread may install handlers)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.stop())
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
