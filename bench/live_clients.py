"""The browsers and the event source of `bench/live.py`: websocket clients that record what
reaches them, an open-loop poster of events in a process of its own, and the arithmetic.

An event's identity is in its PO number: `77<phase><run:3><seq:7>`. Its plant and supplier
follow from `seq` (`plant_of`, `supplier_of`), so a client can tell from the HTML alone which
events a message shows and whether any of them is outside the user's scope.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field

PLANTS = ("P-LB1", "P-LB2", "P-LB3")
SUPPLIERS = ("S-LB1", "S-LB2")


def plant_of(seq: int) -> int:
    return seq % len(PLANTS)


def supplier_of(seq: int) -> int:
    return (seq // len(PLANTS)) % len(SUPPLIERS)


def po_number(phase: int, run: int, seq: int) -> str:
    return f"77{phase}{run:03d}{seq:07d}"


def po_pattern(phase: int, run: int) -> re.Pattern:
    return re.compile(rf"77{phase}{run:03d}(\d{{7}})")


@dataclass(frozen=True)
class Viewer:
    """Who a client is signed in as: everything, one plant (index) or one supplier (index)."""

    username: str
    plant: int | None = None
    supplier: int | None = None

    @property
    def everything(self) -> bool:
        return self.plant is None and self.supplier is None

    @property
    def label(self) -> str:
        if self.plant is not None:
            return f"plant {PLANTS[self.plant]}"
        if self.supplier is not None:
            return f"supplier {SUPPLIERS[self.supplier]}"
        return "all plants"

    def sees(self, seq: int) -> bool:
        if self.everything:
            return True
        return plant_of(seq) == self.plant or supplier_of(seq) == self.supplier


def viewers(count: int) -> list[Viewer]:
    """1 in 5 sees everything, 3 in 5 one plant, 1 in 5 one supplier (plants, suppliers in turn)."""
    found = []
    for n in range(count):
        kind = n % 5
        if kind == 0:
            found.append(Viewer(f"lb-all-{n}"))
        elif kind < 4:
            found.append(Viewer(f"lb-plant-{n}", plant=(n // 5 + kind) % len(PLANTS)))
        else:
            found.append(Viewer(f"lb-supplier-{n}", supplier=(n // 5) % len(SUPPLIERS)))
    return found


# --- clients -----------------------------------------------------------------------------------
@dataclass
class Client:
    viewer: Viewer
    page: str
    cookie: str
    pattern: re.Pattern
    times: list[float] = field(default_factory=list)
    #: Per message, the newest event (highest seq) it shows that the viewer may see; -1: none.
    newest: list[int] = field(default_factory=list)
    foreign: int = 0  # messages showing an event outside the viewer's scope
    foreign_example: str = ""
    last: str = ""
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    error: str = ""

    def take(self, html: str, at: float) -> None:
        seqs = [int(match) for match in self.pattern.findall(html)]
        outside = [seq for seq in seqs if not self.viewer.sees(seq)]
        if outside:
            self.foreign += 1
            self.foreign_example = (
                self.foreign_example or f"seq {outside[0]} in a message to {self.viewer.label}"
            )
        self.times.append(at)
        self.newest.append(max(seqs, default=-1))
        self.last = html

    async def run(self, url: str, origin: str, stop: asyncio.Event) -> None:
        import websockets

        headers = {"Cookie": self.cookie, "Origin": origin}
        try:
            async with websockets.connect(url, additional_headers=headers, max_size=None) as socket:
                self.connected.set()
                while not stop.is_set():
                    try:
                        html = await asyncio.wait_for(socket.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    self.take(html, time.monotonic())
        except Exception as exc:  # noqa: BLE001 — reported with the figures, not fatal
            self.error = f"{type(exc).__name__}: {exc}"
            self.connected.set()

    def latencies(self, posted: dict[int, float]) -> tuple[list[float], int]:
        """Seconds from each in-scope event's 202 to the first message showing it or a later
        event; and how many in-scope events no message ever reached."""
        running, best = [], -1
        for seq in self.newest:
            best = max(best, seq)
            running.append(best)
        found, missing = [], 0
        for seq, answered in posted.items():
            if not self.viewer.sees(seq):
                continue
            index = bisect.bisect_left(running, seq)
            if index == len(running):
                missing += 1
            else:
                found.append(self.times[index] - answered)
        return found, missing

    def messages_between(self, start: float, end: float) -> int:
        return bisect.bisect_right(self.times, end) - bisect.bisect_left(self.times, start)


# --- the event source ----------------------------------------------------------------------------
def post_events(
    base: str, token: str, *, phase: int, run: int, rate: float, batch: int, seconds: float, example: dict
) -> dict:
    """In a process of its own: `rate` events/s for `seconds`, `batch` per request (open loop:
    a late request is sent at once, the schedule is not shifted). Returns each event's seq and
    the monotonic time the answer accepting it arrived, the failures and the achieved rate."""
    import httpx

    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/cloudevents-batch+json",
    }
    interval = batch / rate
    answered: dict[int, float] = {}
    failures: list[str] = []
    seq = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        started = time.monotonic()
        deadline = started + seconds
        request = 0
        while (due := started + request * interval) < deadline:
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            events = []
            for seq in range(request * batch, (request + 1) * batch):
                data = json.loads(json.dumps(example))
                data.update(
                    po_number=po_number(phase, run, seq),
                    plant=PLANTS[plant_of(seq)],
                    supplier=SUPPLIERS[supplier_of(seq)],
                )
                events.append(
                    {
                        "specversion": "1.0",
                        "id": str(uuid.uuid4()),
                        "source": "ERP-LB",
                        "type": "purchase_order.released",
                        "time": "2026-12-02T08:15:00Z",
                        "datacontenttype": "application/json",
                        "data": data,
                    }
                )
            response = client.post("/api/v1/events", content=json.dumps(events))
            at = time.monotonic()
            if response.status_code in (200, 202):  # a batch answers 200 with each event's outcome
                outcomes = response.json().get("results", [])
                for index, event_seq in enumerate(range(request * batch, (request + 1) * batch)):
                    if index < len(outcomes) and outcomes[index].get("status") == "accepted":
                        answered[event_seq] = at
            else:
                failures.append(f"{response.status_code}: {response.text[:200]}")
            request += 1
        elapsed = time.monotonic() - started
    return {"answered": answered, "failures": failures, "rate": len(answered) / elapsed, "seconds": elapsed}


# --- figures -------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "max": max(values, default=float("nan")),
        "mean": statistics.fmean(values) if values else float("nan"),
    }
