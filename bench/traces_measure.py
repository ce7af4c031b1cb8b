"""The trace benchmark's timings: what is measured, how, and how it is reported.

Two groups, each with its own baseline measured in the same run, interleaved with it call by
call (these machines are noisy; interleaving spreads the noise evenly, so the ratios hold):
- lookups call the selectors in process, as the API and the header search do, with the access
  of a see-all user and of a user scoped to one plant; the baseline fetches one `Event` by
  primary key;
- pages are rendered by Django's test `Client` (full middleware, session and template stack, in
  process: server time without the network); the baseline is `/partners/`, a small page behind
  the same login, navigation and base template.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from controltower.accounts.access import access_for
from controltower.traces import selectors
from controltower.traces.models import BusinessObject, Trace
from controltower.web.trace_views import PAGE_SIZE, TIMELINE_PAGE
from integrations.models import Event

LOOKUP_TARGET_MS = 50.0
PAGE_TARGET_MS = 150.0


@dataclass
class Scenario:
    """One measured figure: `calls` are cycled; each returns whether it found something."""

    name: str
    group: str  # "lookup" or "page"
    target_ms: float | None  # None: the group's baseline
    calls: list[Callable[[], bool]]
    samples: list[float] = field(default_factory=list)
    hits: int = 0
    queries: int = 0
    spent: float = 0.0

    def slowest_call(self) -> Callable[[], bool]:
        """The call that took longest in the timed loop (calls are cycled in order)."""
        return self.calls[max(range(len(self.samples)), key=self.samples.__getitem__) % len(self.calls)]

    def percentile(self, q: int) -> float:
        """The q-th percentile in ms (inclusive method: exact for the 200–500 samples used)."""
        return statistics.quantiles(self.samples, n=100, method="inclusive")[q - 1] * 1000


@dataclass(frozen=True)
class Sample:
    """Random identifiers and traces to look up, drawn once per run from the seeded data."""

    event_ids: list[int]
    pos: list[str]
    trace_ids: list[int]
    plant_pos: list[str]
    plant_trace_ids: list[int]
    asns: list[str]
    largest: list[tuple[int, int]]  # (trace id, event count)


def sample_draw(*, rng: random.Random, size: int, plant_id: int) -> Sample:
    """`size` random events, traces (with their PO) and shipments; the plant's traces; the 5
    largest traces."""
    last_event = Event.objects.order_by("-id").values_list("id", flat=True).first()
    last_trace = Trace.objects.order_by("-id").values_list("id", flat=True).first()
    wanted = rng.sample(range(1, last_trace + 1), min(size, last_trace))
    traces = dict(Trace.objects.filter(id__in=wanted).values_list("id", "root__key"))
    plant = list(Trace.objects.filter(plant_id=plant_id).values_list("id", "root__key"))
    plant = rng.sample(plant, min(size, len(plant)))
    asns = list(BusinessObject.objects.filter(kind="shipment").values_list("key", flat=True))
    return Sample(
        event_ids=[rng.randint(1, last_event) for _ in range(size)],
        pos=[traces[pk] for pk in wanted if pk in traces],
        trace_ids=[pk for pk in wanted if pk in traces],
        plant_pos=[key for _, key in plant],
        plant_trace_ids=[pk for pk, _ in plant],
        asns=rng.sample(asns, min(size, len(asns))),
        largest=list(Trace.objects.order_by("-event_count").values_list("id", "event_count")[:5]),
    )


# --- lookups ---------------------------------------------------------------------------------
def _event(pk: int) -> bool:
    return Event.objects.filter(pk=pk).first() is not None


def _one(access, kind: str, value: str) -> bool:
    return selectors.trace_for_identifier(kind=kind, value=value, access=access) is not None


def _search(access, query: str) -> bool:
    return bool(list(selectors.traces_search(query=query, access=access)[:PAGE_SIZE]))


def lookup_scenarios(sample: Sample, *, everyone, plant_user) -> list[Scenario]:
    """Lookup by identifier (exact, as the portal spells it, by shipment and PO line) and the
    search box (a bare PO number tried as every kind, and a prefix), see-all and plant-scoped."""
    wide, narrow = access_for(everyone), access_for(plant_user)

    def scenario(name: str, calls: list[Callable[[], bool]], target: float | None = LOOKUP_TARGET_MS):
        return Scenario(name, "lookup", target, calls)

    return [
        scenario(
            "baseline: one Event by primary key", [partial(_event, pk) for pk in sample.event_ids], None
        ),
        scenario("PO number, see-all", [partial(_one, wide, "purchase_order", po) for po in sample.pos]),
        scenario(
            "PO number, plant scope", [partial(_one, narrow, "purchase_order", po) for po in sample.plant_pos]
        ),
        scenario(
            'PO as the portal spells it ("PO-…"), see-all',
            [partial(_one, wide, "purchase_order", f"PO-{po}") for po in sample.pos],
        ),
        scenario("shipment (ASN), see-all", [partial(_one, wide, "shipment", asn) for asn in sample.asns]),
        scenario(
            "PO line (PO/10), see-all", [partial(_one, wide, "po_line", f"{po}/10") for po in sample.pos]
        ),
        scenario(
            "search box: bare PO number (every kind), see-all",
            [partial(_search, wide, po) for po in sample.pos],
        ),
        scenario(
            "search box: prefix (~100 POs) 45…NN*, see-all",
            [partial(_search, wide, f"{po[:-2]}*") for po in sample.pos],
        ),
        scenario(
            "search box: prefix 45…NN*, plant scope",
            [partial(_search, narrow, f"{po[:-2]}*") for po in sample.plant_pos],
        ),
    ]


# --- pages -----------------------------------------------------------------------------------
def _get(client: Client, path: str, expect: int = 200, htmx: bool = False) -> bool:
    response = client.get(path, headers={"HX-Request": "true"} if htmx else {})
    if response.status_code != expect:
        raise SystemExit(f"GET {path} answered {response.status_code}, expected {expect}")
    return True


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_scenarios(sample: Sample, *, everyone, plant_user) -> list[Scenario]:
    """The trace page for random and for the largest traces, a later timeline page of the
    largest (the htmx partial), the list and search pages; see-all unless named."""
    wide, narrow = _client(everyone), _client(plant_user)
    later = [(pk, max(1, (count + TIMELINE_PAGE - 1) // TIMELINE_PAGE // 2)) for pk, count in sample.largest]

    def scenario(name: str, calls: list[Callable[[], bool]], target: float | None = PAGE_TARGET_MS):
        return Scenario(name, "page", target, calls)

    return [
        scenario("baseline: /partners/", [partial(_get, wide, "/partners/")], None),
        scenario(
            "trace page, random trace", [partial(_get, wide, f"/traces/{pk}/") for pk in sample.trace_ids]
        ),
        scenario(
            "trace page, random trace, plant scope",
            [partial(_get, narrow, f"/traces/{pk}/") for pk in sample.plant_trace_ids],
        ),
        scenario(
            "trace page, the 5 largest traces",
            [partial(_get, wide, f"/traces/{pk}/") for pk, _ in sample.largest],
        ),
        scenario(
            "timeline page (htmx partial) mid-way, the 5 largest",
            [partial(_get, wide, f"/traces/{pk}/?page={page}", htmx=True) for pk, page in later],
        ),
        scenario(
            "search: /traces/?q=<PO> (redirects to the trace)",
            [partial(_get, wide, f"/traces/?q={po}", 302) for po in sample.pos],
        ),
        scenario(
            "search: /traces/?q=45…NN* (~100 POs)",
            [partial(_get, wide, f"/traces/?q={po[:-2]}*") for po in sample.pos],
        ),
        scenario("trace list /traces/", [partial(_get, wide, "/traces/")]),
    ]


# --- running and reporting -------------------------------------------------------------------
def run(scenarios: list[Scenario], *, count: int, budget: float, minimum: int = 50, warmup: int = 5) -> None:
    """Time up to `count` calls of each scenario, interleaved call by call; a scenario stops
    early once it has `minimum` samples and has spent `budget` seconds (so a pathologically slow
    figure cannot hold the run for hours). The first call of each also runs once under query
    capture (its query count is reported)."""
    for scenario in scenarios:
        with CaptureQueriesContext(connection) as captured:
            scenario.calls[0]()
        scenario.queries = len(captured.captured_queries)
        for i in range(warmup):
            scenario.calls[i % len(scenario.calls)]()
    for i in range(count):
        for scenario in scenarios:
            if len(scenario.samples) >= minimum and scenario.spent >= budget:
                continue
            call = scenario.calls[i % len(scenario.calls)]
            started = time.perf_counter()
            found = call()
            elapsed = time.perf_counter() - started
            scenario.samples.append(elapsed)
            scenario.spent += elapsed
            scenario.hits += bool(found)


@dataclass(frozen=True)
class Figure:
    """One scenario's result in one run, with its ratios to the group's baseline."""

    name: str
    group: str
    target_ms: float | None
    p50: float
    p95: float
    ratio50: float
    ratio95: float
    queries: int
    hits: int  # calls that found something …
    calls: int  # … of this many timed calls

    @property
    def verdict(self) -> str:
        if self.target_ms is None:
            return "baseline"
        return f"p95 < {self.target_ms:.0f} ms {'✔' if self.p95 < self.target_ms else '✘'}"


def figures(scenarios: list[Scenario]) -> list[Figure]:
    """Each scenario as a `Figure`; the baseline is the group's scenario without a target."""
    base = {s.group: s for s in scenarios if s.target_ms is None}
    return [
        Figure(
            s.name,
            s.group,
            s.target_ms,
            s.percentile(50),
            s.percentile(95),
            s.percentile(50) / base[s.group].percentile(50),
            s.percentile(95) / base[s.group].percentile(95),
            s.queries,
            s.hits,
            len(s.samples),
        )
        for s in scenarios
    ]


def table(rows: list[Figure], title: str) -> str:
    """A plain-text table of `rows` under `title`."""
    lines = [
        title,
        f"  {'':<56} {'p50 ms':>8} {'p95 ms':>8} {'×base50':>8} {'×base95':>8} {'queries':>8}  {'found':>9}  target",
    ]
    for f in rows:
        lines.append(
            f"  {f.name:<56} {f.p50:8.2f} {f.p95:8.2f} {f.ratio50:8.1f} {f.ratio95:8.1f} {f.queries:8d}"
            f"  {f'{f.hits}/{f.calls}':>9}  {f.verdict}"
        )
    return "\n".join(lines)


def medians(runs: list[list[Figure]]) -> list[Figure]:
    """Per figure, the median over runs of each timing and ratio, and the calls of all runs
    (runs list the same figures in order)."""
    out = []
    for same in zip(*runs, strict=True):
        first = same[0]
        med = {
            k: statistics.median(getattr(f, k) for f in same) for k in ("p50", "p95", "ratio50", "ratio95")
        }
        out.append(
            Figure(
                first.name,
                first.group,
                first.target_ms,
                **med,
                queries=first.queries,
                hits=sum(f.hits for f in same),
                calls=sum(f.calls for f in same),
            )
        )
    return out


def explain_slowest(scenarios: list[Scenario], *, top: int = 2) -> str:
    """For each scenario, the `top` slowest queries of its slowest call (run again, captured)
    with their `EXPLAIN (ANALYZE, BUFFERS)` plans: where the time of a slow figure goes."""
    out = []
    for scenario in scenarios:
        with CaptureQueriesContext(connection) as captured:
            scenario.slowest_call()()
        slowest = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:top]
        for query in slowest:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
                plan = "\n".join(f"      {row[0]}" for row in cursor.fetchall())
            out.append(
                f"{scenario.name}: {len(captured.captured_queries)} queries; slowest {float(query['time']) * 1000:.1f} ms:\n"
                f"    {query['sql']}\n{plan}"
            )
    return "\n\n".join(out)
