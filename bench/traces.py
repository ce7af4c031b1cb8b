"""Trace benchmark: lookup by identifier and the trace page, on 1,000,000 seeded events.

    make bench-traces        (or: .venv/bin/python bench/traces.py --help)

Needs PostgreSQL: DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/ct_bench_traces.
The database is created, migrated and seeded on the first run (~100,000 procure-to-receive
traces, ~10 events each, a long tail up to ~5,000 events; see bench/traces_plan.py) and reused
by later runs with the same --events and --seed; --reseed starts it again. Its name must
contain "bench": the seed drops and recreates it.

Then, in process (Django, DEBUG off), interleaved with a baseline measured in the same run,
as an operator who sees every plant and supplier (and payloads) and a viewer scoped to one plant:
1. lookups — `trace_for_identifier` by PO, the portal's "PO-…" spelling, shipment and PO line,
   and `traces_search` (bare PO, prefix); baseline: one `Event` by primary key. Target: p95 < 50 ms.
2. pages — GET /traces/<pk>/ for random and for the largest traces, a later timeline page (the
   htmx partial), the search and list pages, through Django's test client; baseline:
   /partners/. Target: p95 < 150 ms of server time.
Prints p50/p95, their ratios to the baseline and ✔/✘ against the target. A figure takes up to
--lookups/--renders calls, but stops after 50 once it has spent --budget seconds. --repeat N
runs the measurements N times and prints the medians; --explain prints EXPLAIN ANALYZE of the
slowest queries of each figure's slowest call; --check N first replays the real correlation
over N random traces (rolled back) to show the seed is exactly what correlation writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/ct_bench_traces"
SEED_VERSION = 2  # bump when the seeded shape changes: older seeds are then rebuilt
PLANT_USER_PLANT = "P-DE10"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to seed (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data and the samples")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the database even if seeded")
    parser.add_argument("--lookups", type=int, default=500, help="calls per lookup figure")
    parser.add_argument("--renders", type=int, default=200, help="renders per page figure")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per figure after its first 50 calls (default 60)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measurement runs; >1 also prints medians")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each figure's slowest query")
    parser.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="TRACES",
        help="first replay correlate_events over TRACES random traces (rolled back)",
    )
    return parser.parse_args()


def environment(url: str) -> None:
    """Settings for an in-process benchmark: production settings with DEBUG off, no TLS
    redirect (there is no proxy in process), the test client's host allowed."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "controltower.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["ALLOWED_HOSTS"] = ",".join(filter(None, [os.environ.get("ALLOWED_HOSTS"), "testserver"]))
    os.environ.setdefault("SECRET_KEY", "bench-traces-only-" + "x" * 40)
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "YmVuY2gtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleSE=")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("CONTROLTOWER_DATA_DIR", str(ROOT / "var" / "bench-traces"))


# --- the database ------------------------------------------------------------------------------
def database_url() -> tuple[str, str, str]:
    """(url, database name, maintenance url) from DATABASE_URL; exits unless it is PostgreSQL."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql") or not name:
        raise SystemExit(f"bench/traces.py needs DATABASE_URL=postgresql://…/<database>, not {url!r}")
    return url, name, urlunsplit(parts._replace(path="/postgres"))


def seeded_marker(maintenance: str, name: str) -> dict | None:
    """What the database's comment says was seeded, or None (no database, never seeded).
    Exits with a clear message when PostgreSQL cannot be reached."""
    try:
        with psycopg.connect(maintenance, connect_timeout=3, autocommit=True) as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL is not reachable at {maintenance}: {str(exc).strip()}\n"
            "Start it (../shared/DESIGN.md §3) or point DATABASE_URL at a server."
        ) from exc
    try:
        return json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None


def database_recreate(maintenance: str, name: str) -> None:
    """Drop and create database `name`; exits unless its name says it is a benchmark's."""
    if "bench" not in name:
        raise SystemExit(f"refusing to seed database {name!r}: its name must contain 'bench' (it is dropped)")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def marker_write(maintenance: str, name: str, marker: dict) -> None:
    """Record what was seeded in the database's comment (read by `seeded_marker`)."""
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(marker))
            )
        )


# --- Django: network and people ---------------------------------------------------------------
def django_setup() -> None:
    """Configure Django (after `environment`) and migrate the benchmark database."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def network_setup():
    """Plants, suppliers, the sending systems and the portal's "PO-" rule (idempotent)."""
    from bench.traces_load import Network
    from bench.traces_plan import ERP, MIDDLEWARE, PLANTS, PORTAL, PORTAL_PO_PREFIX, SUPPLIERS, TMS
    from controltower.masterdata.services import plant_upsert, supplier_upsert
    from controltower.traces.models import IdentifierRule
    from integrations.services.network import system_upsert

    plants = {
        code: plant_upsert(code=code, name=f"Plant {code[2:]}", time_zone=tz) for code, tz in PLANTS.items()
    }
    suppliers = {code: supplier_upsert(code=code, name=f"Supplier {code[2:]}") for code in SUPPLIERS}
    kinds = {ERP: "erp", PORTAL: "supplier_portal", TMS: "tms", MIDDLEWARE: "middleware"}
    systems = {code: system_upsert(code=code, name=code.title(), kind=kind) for code, kind in kinds.items()}
    for code, plant in plants.items():
        systems[f"WMS-{code}"] = system_upsert(
            code=f"WMS-{code}", name=f"WMS {code}", kind="wms", plant=plant
        )
    rule = IdentifierRule(system=systems[PORTAL], kind="purchase_order", strip_prefix=PORTAL_PO_PREFIX)
    if not IdentifierRule.objects.filter(system=rule.system, kind=rule.kind).exists():
        # bulk_create sends no post_save: there are no events yet, so there is nothing to re-key.
        IdentifierRule.objects.bulk_create([rule])
    return Network(
        systems={code: s.pk for code, s in systems.items()},
        plants={code: p.pk for code, p in plants.items()},
        suppliers={code: s.pk for code, s in suppliers.items()},
    )


def people_setup():
    """An operator who sees every plant and supplier (and payloads), and a viewer scoped to
    PLANT_USER_PLANT (like the demo's plant users)."""
    from controltower.accounts.roles import Role
    from controltower.accounts.services import user_upsert
    from controltower.masterdata.models import Plant

    plant = Plant.objects.get(code=PLANT_USER_PLANT)
    everyone = user_upsert(username="bench-all", roles=[Role.OPERATOR], sees_all_partners=True)
    scoped = user_upsert(username="bench-plant", roles=[Role.VIEWER], plants=[plant])
    return everyone, scoped, plant.pk


# --- seeding -----------------------------------------------------------------------------------
def seed(args: argparse.Namespace, url: str) -> dict:
    """Plan and write `args.events` events; returns the marker describing the seed."""
    from bench.traces_load import seed as load
    from bench.traces_plan import plan_events
    from controltower.traces.identifiers import identifier_rules_load

    network = network_setup()
    now = float(int(time.time()))
    started = time.perf_counter()
    specs = plan_events(events=args.events, seed=args.seed, now=now)
    planned = time.perf_counter() - started
    print(f"  planned {len(specs):,} events in {planned:.1f} s", flush=True)
    rules = identifier_rules_load()
    timings = load(url, specs, network=network, rules=rules, rng_seed=args.seed, now=now, progress=_say)
    timings["plan"] = planned
    total = time.perf_counter() - started
    print(f"  seeded in {total:.0f} s ({_phases(timings)})", flush=True)
    return {
        "version": SEED_VERSION,
        "events": args.events,
        "seed": args.seed,
        "seconds": round(total),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }


def _phases(timings: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())


def _say(message: str) -> None:
    print(message, flush=True)


def inventory(url: str) -> str:
    """Row counts of the seeded tables and the database size, for the report."""
    tables = {
        "events": "integrations_event",
        "identifiers": "integrations_eventidentifier",
        "objects": "traces_businessobject",
        "object links": "traces_objectlink",
        "event-object rows": "traces_eventobject",
        "traces": "traces_trace",
        "memberships": "traces_traceevent",
        "milestones": "traces_tracemilestone",
    }
    with psycopg.connect(url) as conn:
        counts = {
            label: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for label, t in tables.items()
        }
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        largest = conn.execute(
            "SELECT event_count FROM traces_trace ORDER BY event_count DESC LIMIT 5"
        ).fetchall()
    listed = ", ".join(f"{n:,} {label}" for label, n in counts.items())
    return f"{listed}; database {size}; largest traces {', '.join(f'{r[0]:,}' for r in largest)} events"


# --- measuring ---------------------------------------------------------------------------------
def measure(args: argparse.Namespace, people: tuple) -> None:
    """Run the figures `args.repeat` times; print each run and, with several, the medians."""
    from bench import traces_measure as m

    everyone, scoped, plant_id = people
    runs: dict[str, list] = {"lookup": [], "page": []}
    for run in range(args.repeat):
        rng = random.Random(args.seed * 1_000 + run)
        sample = m.sample_draw(rng=rng, size=max(args.lookups, args.renders), plant_id=plant_id)
        for group, build, count in (
            ("lookup", m.lookup_scenarios, args.lookups),
            ("page", m.page_scenarios, args.renders),
        ):
            scenarios = build(sample, everyone=everyone, plant_user=scoped)
            m.run(scenarios, count=count, budget=args.budget)
            runs[group].append(m.figures(scenarios))
            title = (
                "Trace lookup (selectors, in process)" if group == "lookup" else "Trace pages (server time)"
            )
            print(
                f"\n{m.table(runs[group][-1], f'{title}, run {run + 1}: {count} calls per figure')}",
                flush=True,
            )
            if args.explain:
                print("\n" + m.explain_slowest(scenarios), flush=True)
    if args.repeat > 1:
        for group, label in (("lookup", "Trace lookup"), ("page", "Trace pages")):
            print(f"\n{m.table(m.medians(runs[group]), f'{label}: medians of {args.repeat} runs')}")


def main() -> None:
    args = parse_args()
    url, name, maintenance = database_url()
    environment(url)
    marker = seeded_marker(maintenance, name)
    wanted = {"version": SEED_VERSION, "events": args.events, "seed": args.seed}
    fresh = args.reseed or marker is None or any(marker.get(k) != v for k, v in wanted.items())
    print(
        f"bench-traces: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {url}"
    )
    if fresh:
        database_recreate(maintenance, name)
        print(f"seeding {args.events:,} events into {name} (was: {marker or 'not seeded'})", flush=True)
    django_setup()
    if fresh:
        marker = seed(args, url)
        marker_write(maintenance, name, marker)
    else:
        print(f"reusing {name}: seeded {marker['at']} in {marker['seconds']} s (--reseed to seed again)")
    print(f"  {inventory(url)}", flush=True)
    people = people_setup()
    if args.check:
        from bench.traces_check import shape_check

        replayed, problems = shape_check(traces=args.check, seed=args.seed)
        verdict = "changed nothing ✔" if not problems else "✘ " + "; ".join(problems)
        print(f"shape check: correlate_events replayed over {replayed:,} events: {verdict}", flush=True)
    measure(args, people)


if __name__ == "__main__":
    main()
