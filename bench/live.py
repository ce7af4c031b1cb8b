"""Live pages benchmark: 50 signed-in browsers on live pages while the API takes 200 events/s,
against one `group_send` per event to the same browsers, in one run.

    make bench-live          (or: .venv/bin/python bench/live.py --help)

Needs PostgreSQL (BENCH_LIVE_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/ct_bench_live;
dropped, created and migrated at start) and Redis (BENCH_LIVE_REDIS_URL, default
redis://127.0.0.1:6379/13: broker, cache and channel layer; flushed at start). The processes are
the production ones with DEBUG off: one uvicorn web process (pages, API and websockets) and one
Celery worker (prefork, 2 processes) on every queue.

Setup: 3 plants, 2 suppliers, a source system, and one user per client, signed in (a session
each): 1 in 5 sees all plants, 3 in 5 one plant, 1 in 5 one supplier. Each event is a
`purchase_order.released` whose PO number carries its sequence number, for plant `seq % 3` and
supplier `seq // 3 % 2`; it starts a trace of its own when the worker correlates it.

Two phases, each with a fresh worker and the same web process:
1. **live** (the product): every client opens the page's websocket (`/ws/live/?page=<page>`,
   `--pages`, default the traces list) as the browser does. The hub re-renders each audience's
   live sections through the page's own view, at most every 0.25 s, and pushes them.
2. **baseline**: every client opens `/ws/bench-fanout/` (bench/live_fanout.py): the worker renders
   one table row per changed trace and sends it with one `group_send` to a group holding every
   client; each consumer forwards the rows its user may see. No coalescing.

In each, events are posted for `--seconds` at `--rate` events/s, `--batch` per request (one web
process saturates near 110 single-event requests/s here: see Ingest in docs/performance.md), and
then the run waits until every event is correlated and the clients have been quiet for a second.

"The update" for an event, for one client that may see it: the first message the client receives
that shows that event or a later one (a higher sequence number) of the client's scope — the
traces list shows the newest 50, so at 200 events/s an event may already have scrolled off by
the time the page is rendered; a later one in its place is the page being up to date. Latency is
from the API's answer accepting the event (a batch answers 200 with each event's outcome; one
event alone would answer 202), taken in the poster's process on the same monotonic clock, to
that message's arrival in the client. It includes the worker's queue and correlation, the same
in both phases; so the part after the worker wrote the trace (`Trace.created_at`, inside the
correlation's transaction) is printed too.

Measured per phase: latency p50/p95/max over every (client, event) pair; messages each client
received per second while events were posted; CPU of the web process (and of the worker) per
message delivered and per event; **cross-scope**: messages showing an event the client's user
may not see (must be 0); **convergence** (live phase): each client's last message equals what
the page's own view renders for that user at the end (the sections, as the hub renders them),
and every client was reached by its scope's newest event; baseline: each client got every
in-scope event.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import os
import platform
import random
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live_clients import (  # noqa: E402  (after the path is set)
    PLANTS,
    SUPPLIERS,
    Client,
    po_pattern,
    post_events,
    summary,
    viewers,
)
from bench.replay_procs import Child, CpuMeter, child_env, free_port, processes  # noqa: E402

TARGET_P95_MS = 250.0
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_LIVE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ct_bench_live"
        ),
        help="dropped and created at start; its name must contain 'bench'",
    )
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_LIVE_REDIS_URL", "redis://127.0.0.1:6379/13")
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second (default 200)")
    parser.add_argument("--batch", type=int, default=10, help="events per request (default 10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="posting time per phase (default 20)")
    parser.add_argument(
        "--pages",
        default="/traces/",
        help="comma-separated live pages the clients hold, in turn (default /traces/; e.g. /traces/,/). "
        "Pages that are not live in this tree are left out, with a note",
    )
    parser.add_argument("--settle", type=float, default=60.0, help="longest wait for the backlog (s)")
    parser.add_argument("--port", type=int, default=0, help="web port (default: a free one)")
    parser.add_argument("--skip-baseline", action="store_true")
    return parser.parse_args()


# --- setup ---------------------------------------------------------------------------------------
def seed(count: int) -> tuple[str, list, dict]:
    """Plants, suppliers, the source system and its token, one signed-in user per client.
    Returns the token, the viewers and each viewer's session cookie value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from controltower.accounts.roles import Role
    from controltower.accounts.services import user_upsert
    from controltower.masterdata.services import plant_upsert, supplier_upsert
    from integrations.services.network import system_upsert
    from integrations.services.tokens import system_token_create

    plants = [plant_upsert(code=code, name=f"Bench {code}", time_zone="UTC") for code in PLANTS]
    suppliers = [supplier_upsert(code=code, name=f"Bench {code}", time_zone="UTC") for code in SUPPLIERS]
    system = system_upsert(code="ERP-LB", name="Bench ERP", kind="erp")
    token = system_token_create(system=system, name="bench-live", rate_limit_per_minute=10_000_000)[1]
    found, cookies = viewers(count), {}
    for viewer in found:
        user = user_upsert(
            username=viewer.username,
            roles=[Role.VIEWER],
            sees_all_partners=viewer.everything,
            plants=[plants[viewer.plant]] if viewer.plant is not None else [],
            suppliers=[suppliers[viewer.supplier]] if viewer.supplier is not None else [],
        )
        session = SessionStore()  # signed in, as the login page would leave it
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies[viewer.username] = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    return token, found, cookies


def live_pages(wanted: list[str]) -> list[str]:
    from controltower.web.live.render import live_page_for

    pages = []
    for page in wanted:
        if live_page_for(page) is None:
            print(f"  note: {page} is not a live page in this tree; left out")
        else:
            pages.append(page)
    if not pages:
        raise SystemExit("none of --pages is a live page here")
    return pages


def start_web(env: dict[str, str], log_dir: Path, port: int) -> tuple[Child, str]:
    env = {**env, "DATABASE_POOL": "1", "DATABASE_POOL_MAX_SIZE": "8"}
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.live_fanout:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    web = Child.start("web", args, env, log_dir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise SystemExit(f"the web process exited at start:\n{web.tail()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return web, base
        time.sleep(0.2)
    web.stop()
    raise SystemExit(f"the web process did not listen within 60 s:\n{web.tail()}")


def start_worker(env: dict[str, str], log_dir: Path, *, app: str, name: str) -> Child:
    from controltower.celery import app as celery_app

    hostname = f"{name}-{os.getpid()}@{socket.gethostname()}"
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "-Q",
        "ingest,delivery,replay,rules",
        "--concurrency=2",
        "--pool=prefork",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        f"--hostname={hostname}",
    ]
    worker = Child.start(name, args, env, log_dir)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise SystemExit(f"the Celery worker exited at start:\n{worker.tail()}")
        if celery_app.control.ping(destination=[hostname], timeout=0.5):
            return worker
        time.sleep(0.3)
    worker.stop()
    raise SystemExit("the Celery worker did not answer a ping within 90 s")


# --- one phase -----------------------------------------------------------------------------------
async def run_phase(args, *, phase: int, run: int, base: str, token: str, clients: list[Client], ws_paths):
    """Connect the clients, post the events, wait for the backlog; returns the poster's result
    and the posting window."""
    from bench.live_clients import po_number
    from integrations.contracts import contract_get

    stop = asyncio.Event()
    origin = base
    ws_base = base.replace("http://", "ws://")
    tasks = [asyncio.create_task(client.run(ws_base + ws_paths(client), origin, stop)) for client in clients]
    await asyncio.gather(*(client.connected.wait() for client in clients))
    failed = [client.error for client in clients if client.error]
    if failed:
        stop.set()
        raise SystemExit(f"{len(failed)} client(s) could not connect: {failed[0]}")
    await asyncio.sleep(2)  # joining renders each page once: let those arrive first

    example = contract_get("purchase_order.released").example
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        started = time.monotonic()
        posted = await asyncio.get_running_loop().run_in_executor(
            pool, _post, base, token, phase, run, args.rate, args.batch, args.seconds, example
        )
    ended = time.monotonic()
    answered = posted["answered"]
    last = po_number(phase, run, max(answered)) if answered else None
    deadline = ended + args.settle
    while time.monotonic() < deadline:  # until the worker is through and the clients are quiet
        done = await _traces_started(phase, run)
        quiet = time.monotonic() - max((c.times[-1] for c in clients if c.times), default=0) > 1.0
        if done >= len(answered) and quiet:
            break
        await asyncio.sleep(0.25)
    settled = time.monotonic()
    stop.set()
    await asyncio.gather(*tasks)
    return posted, started, ended, settled, last


def _post(base, token, phase, run, rate, batch, seconds, example):
    return post_events(
        base, token, phase=phase, run=run, rate=rate, batch=batch, seconds=seconds, example=example
    )


async def _traces_started(phase: int, run: int) -> int:
    from asgiref.sync import sync_to_async

    from controltower.traces.models import Trace

    prefix = f"77{phase}{run:03d}"
    return await sync_to_async(Trace.objects.filter(root__key__startswith=prefix).count)()


def final_render(client: Client, host: str) -> str:
    """What the page's own view renders now for the client's user: the sections the hub sends."""
    from django.contrib.auth import get_user_model

    from controltower.web.live.render import CSRF_PLACEHOLDER, live_page_for, render_sections
    from controltower.web.timezones import zone_named

    page, _ = live_page_for(client.page)
    user = get_user_model().objects.get(username=client.viewer.username)
    html = render_sections(user=user, path=client.page, page=page, zone=zone_named(None), host=host) or ""
    return html.replace(CSRF_PLACEHOLDER, "")


def traces_written(phase: int, run: int) -> dict[int, float]:
    """Each event's trace's creation time (in the worker's correlation transaction), on this
    process's monotonic clock."""
    from controltower.traces.models import Trace

    offset = time.time() - time.monotonic()
    pattern = po_pattern(phase, run)
    written = {}
    for key, created in Trace.objects.filter(root__key__startswith=f"77{phase}{run:03d}").values_list(
        "root__key", "created_at"
    ):
        if match := pattern.search(key):
            written[int(match.group(1))] = created.timestamp() - offset
    return written


def report_phase(
    name, clients, posted, started, ended, settled, meter, *, live: bool, host: str, written
) -> dict:
    answered = posted["answered"]
    latencies, missing, messages, after_commit = [], 0, 0, []
    for client in clients:
        found, lost = client.latencies(answered)
        latencies += found
        missing += lost
        messages += len(client.times)
        after_commit += client.latencies(written)[0]
    window = ended - started
    rates = [client.messages_between(started, ended) / window for client in clients]
    foreign = sum(client.foreign for client in clients)
    if live:
        differing = [
            client
            for client in clients
            if CSRF_VALUE.sub("", client.last) != CSRF_VALUE.sub("", final_render(client, host))
        ]
    else:
        differing = [client for client in clients if client.latencies(answered)[1]]
    cpu = meter.used
    lat = summary([1000 * value for value in latencies])
    hub = summary([1000 * value for value in after_commit])
    figures = {
        "after_commit": hub,
        "events": len(answered),
        "rate": posted["rate"],
        "failures": len(posted["failures"]),
        "latency": lat,
        "missing": missing,
        "messages": messages,
        "per_client_per_s": summary(rates),
        "web_cpu_ms_per_message": 1000 * cpu["web"] / max(messages, 1),
        "web_cpu_ms_per_event": 1000 * cpu["web"] / max(len(answered), 1),
        "worker_cpu_ms_per_event": 1000 * cpu["worker"] / max(len(answered), 1),
        "foreign": foreign,
        "not_converged": len(differing),
        "settle_s": settled - ended,
        "machine_busy": meter.machine_busy,
    }
    print(
        f"  {name}: {len(answered):,} events in {window:.1f} s ({posted['rate']:.0f}/s, "
        f"{len(posted['failures'])} failed requests), backlog done {settled - ended:.1f} s after the last"
    )
    print(
        f"    latency 202 → update, over {len(latencies):,} (client, event) pairs: p50 {lat['p50']:.0f} ms, "
        f"p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms; {missing:,} never reached"
    )
    print(
        f"    of which after the worker wrote the trace (trace created → update): p50 {hub['p50']:.0f} ms, "
        f"p95 {hub['p95']:.0f} ms, max {hub['max']:.0f} ms"
    )
    per = figures["per_client_per_s"]
    print(
        f"    messages: {messages:,} in all; per client per second while posting: "
        f"median {per['p50']:.1f}, max {per['max']:.1f}"
    )
    print(
        f"    CPU: web {figures['web_cpu_ms_per_message']:.2f} ms per message delivered, "
        f"{figures['web_cpu_ms_per_event']:.2f} ms per event; worker {figures['worker_cpu_ms_per_event']:.2f} ms "
        f"per event (machine {100 * meter.machine_busy:.0f}% busy, other work included)"
    )
    example = next((client.foreign_example for client in clients if client.foreign), "")
    print(f"    cross-scope messages: {foreign}" + (f" ✘ e.g. {example}" if foreign else " ✔"))
    print(
        f"    converged: {len(clients) - len(differing)} of {len(clients)} clients"
        + (" ✔" if not differing else f" ✘ e.g. {differing[0].viewer.label} on {differing[0].page}")
    )
    if posted["failures"]:
        print(f"    first failed request: {posted['failures'][0]}")
    return figures


async def measure(args, token, found, cookies, pages, base, env, log_dir) -> dict:
    from django.db import close_old_connections

    run = random.randrange(1000)
    host = base.removeprefix("http://")
    results = {}
    shapes = [("live", 1, "controltower", {})]
    if not args.skip_baseline:
        shapes.append(("baseline", 2, "bench.live_fanout_worker", {"BENCH_LIVE_FANOUT": "1"}))
    for name, phase, app, extra in shapes:
        worker = start_worker({**env, **extra}, log_dir, app=app, name=f"worker-{name}")
        try:
            web_pids = processes(lambda: WEB.pids())
            meter = CpuMeter({"web": web_pids, "worker": processes(worker.pids)})
            clients = [
                Client(viewer, pages[n % len(pages)], cookies[viewer.username], po_pattern(phase, run))
                for n, viewer in enumerate(found)
            ]

            def ws_path(client: Client, live: bool = name == "live") -> str:
                return f"/ws/live/?page={client.page}" if live else "/ws/bench-fanout/"

            meter.start()
            posted, started, ended, settled, _ = await run_phase(
                args, phase=phase, run=run, base=base, token=token, clients=clients, ws_paths=ws_path
            )
            meter.stop()
            close_old_connections()
            results[name] = report_phase(
                name,
                clients,
                posted,
                started,
                ended,
                settled,
                meter,
                live=name == "live",
                host=host,
                written=traces_written(phase, run),
            )
        finally:
            worker.stop()
    return results


def ratios(results: dict) -> None:
    live = results["live"]
    print("\nsummary")
    mark = "✔" if live["latency"]["p95"] <= TARGET_P95_MS else "✘"
    print(f"  live p95 latency {live['latency']['p95']:.0f} ms (target ≤ {TARGET_P95_MS:.0f} ms) {mark}")
    print(f"  cross-scope messages {live['foreign']} (target 0) {'✔' if not live['foreign'] else '✘'}")
    print(
        f"  clients not converged {live['not_converged']} (target 0) {'✔' if not live['not_converged'] else '✘'}"
    )
    base = results.get("baseline")
    if not base:
        return

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "—"

    print("  ratio live / baseline:")
    print(
        f"    latency p50 {ratio(live['latency']['p50'], base['latency']['p50'])}, "
        f"p95 {ratio(live['latency']['p95'], base['latency']['p95'])}; after the trace is written: "
        f"p50 {ratio(live['after_commit']['p50'], base['after_commit']['p50'])}, "
        f"p95 {ratio(live['after_commit']['p95'], base['after_commit']['p95'])}"
    )
    print(
        f"    messages per client per second {ratio(live['per_client_per_s']['p50'], base['per_client_per_s']['p50'])}; "
        f"messages in all {ratio(live['messages'], base['messages'])}"
    )
    print(
        f"    web CPU per event {ratio(live['web_cpu_ms_per_event'], base['web_cpu_ms_per_event'])}; "
        f"per message {ratio(live['web_cpu_ms_per_message'], base['web_cpu_ms_per_message'])}; "
        f"worker CPU per event {ratio(live['worker_cpu_ms_per_event'], base['worker_cpu_ms_per_event'])}"
    )


WEB: Child


def main() -> None:
    global WEB
    args = parse_args()
    from bench.replay_seed import database_fresh, django_setup, redis_flush

    log_dir = Path(tempfile.mkdtemp(prefix="ct-bench-live-"))
    env = child_env(database_url=args.database, redis_url=args.redis, data_dir=str(log_dir))
    print(
        f"live benchmark: {args.clients} clients, {args.rate:.0f} events/s ({args.batch} per request) for "
        f"{args.seconds:.0f} s per phase, on {platform.node()} ({os.cpu_count()} CPUs); logs in {log_dir}"
    )
    # The clients' event loop is this process's only thread using the ORM (seeding, counting,
    # the final renders), one call at a time: let Django run it there.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    database_fresh(args.database)
    redis_flush(args.redis)
    django_setup(env)
    pages = live_pages([page.strip() for page in args.pages.split(",") if page.strip()])
    token, found, cookies = seed(args.clients)
    print(
        f"  pages: {', '.join(pages)}; clients: "
        + ", ".join(
            f"{sum(v.label.startswith(k) for v in found)} {k}" for k in ("all plants", "plant", "supplier")
        )
    )
    WEB, base = start_web(env, log_dir, args.port or free_port())
    try:
        results = asyncio.run(measure(args, token, found, cookies, pages, base, env, log_dir))
    finally:
        WEB.stop()
    ratios(results)


if __name__ == "__main__":
    main()
