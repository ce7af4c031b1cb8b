"""Ingest benchmark: end-to-end HTTP intake against the raw PostgreSQL insert rate, in one run.

    make bench-ingest        (or: .venv/bin/python bench/ingest.py --help)

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/...; the
database is created fresh). It measures, on the same machine and in the same run:
1. raw: 500-row multi-row INSERTs of event rows and their identifier rows into tables of the
   same shape and indexes as the real ones (one transaction per 500 events);
2. batch: 500 CloudEvents per request through the real ASGI server (uvicorn): auth,
   parsing, contract validation, dedupe, identifiers;
3. single: one event per request at about --rate events/s (paced by wrk), latency p50/p90/p99;
for the ASGI app under uvicorn and the WSGI app under gunicorn (the production split), and
samples the web processes' RSS throughout. Prints events/s and ratios to raw, and the server's
CPU per event. `--concurrency N` adds a closed-loop burst from N connections (what a crowd of
clients sees) with the peak number of PostgreSQL sessions the server held; `--skip-batch`
runs the single-event phases only, and `--database sqlite:///…` the embedded default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
APPLICATION_NAME = "controltower-bench-web"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
os.environ.setdefault("DEBUG", "1")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/controltower_bench"
        ),
    )
    parser.add_argument("--events", type=int, default=20_000, help="events for the raw and batch phases")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2, help="concurrent batch posters")
    parser.add_argument("--rate", type=int, default=200, help="single events per second (open loop)")
    parser.add_argument("--seconds", type=int, default=15, help="duration of the single-event phase")
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=["uvicorn", "gunicorn", "gunicorn-asgi"],
        default=["uvicorn", "gunicorn"],
        help="uvicorn: the ASGI app, 1 process; gunicorn: the WSGI app, 2 sync workers; "
        "gunicorn-asgi: the ASGI app under gunicorn's own ASGI worker, 2 processes",
    )
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--gunicorn-args", default="", help='extra gunicorn options, e.g. "-k gthread --threads 2"'
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="also run single events closed-loop from this many connections (no pause), counting "
        "the server's PostgreSQL sessions; 0: skip",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server processes (repeatable), e.g. DATABASE_POOL=0",
    )
    parser.add_argument(
        "--skip-batch", action="store_true", help="skip the raw and batch phases (single events only)"
    )
    return parser.parse_args()


# --- setup -----------------------------------------------------------------------------------
def fresh_database(url: str) -> None:
    if url.startswith("sqlite:"):  # the embedded default of `make run`, for the concurrency phase
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        return
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> str:
    """Migrate, register a sender system and return its token."""
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from controltower.masterdata.services import plant_upsert, supplier_upsert
    from integrations.services.network import system_upsert
    from integrations.services.tokens import system_token_create

    plant_upsert(code="P-BENCH", name="Bench plant", time_zone="UTC")
    supplier_upsert(code="S-BENCH", name="Bench supplier", time_zone="UTC")
    system = system_upsert(code="ERP-BENCH", name="Bench ERP", kind="erp")
    return system_token_create(system=system, name="bench", rate_limit_per_minute=10_000_000)[1]


def make_event(template: dict) -> dict:
    data = json.loads(json.dumps(template))
    data["po_number"] = f"45{uuid.uuid4().int % 10**8:08d}"
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "ERP-BENCH",
        "type": "purchase_order.released",
        "time": "2026-11-27T08:15:00Z",
        "datacontenttype": "application/json",
        "data": data,
    }


def template() -> dict:
    from integrations.contracts import contract_get

    data = json.loads(json.dumps(contract_get("purchase_order.released").example))
    data.update(plant="P-BENCH", supplier="S-BENCH")
    return data


# --- 1. raw PostgreSQL -----------------------------------------------------------------------
def raw_rate(url: str, events: list[dict], batch_size: int) -> float:
    from integrations.contracts import contract_get, extract_identifiers

    contract = contract_get("purchase_order.released")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_event (LIKE integrations_event INCLUDING ALL)")
        conn.execute("CREATE TABLE raw_identifier (LIKE integrations_eventidentifier INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        for start in range(0, len(events), batch_size):
            chunk = events[start : start + batch_size]
            rows = [
                (
                    1,
                    e["source"],
                    e["id"],
                    e["type"],
                    1,
                    "",
                    e["time"],
                    "batch",
                    json.dumps({k: v for k, v in e.items() if k != "data"}),
                    json.dumps(e["data"]),
                )
                for e in chunk
            ]
            placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s,now(),%s,%s,%s,NULL,NULL)"] * len(rows))
            ids = conn.execute(
                "INSERT INTO raw_event (system_id, source, event_id, type, version, subject, event_time, received_at,"
                " mode, attributes, data, plant_id, supplier_id) VALUES " + placeholders + " RETURNING id",
                [value for row in rows for value in row],
            ).fetchall()
            idents = [
                (pk, kind, value)
                for (pk,), event in zip(ids, chunk, strict=True)
                for kind, value in extract_identifiers(contract, event["data"])
            ]
            conn.execute(
                "INSERT INTO raw_identifier (event_id, kind, value) VALUES "
                + ",".join(["(%s,%s,%s)"] * len(idents)),
                [value for row in idents for value in row],
            )
            conn.commit()
        return len(events) / (time.perf_counter() - started)


# --- server ----------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace, url: str) -> subprocess.Popen:
    args.port = args.port or free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 50,
        "FIELD_ENCRYPTION_KEY": "YmVuY2gtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleSE=",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL": "0" if args.server == "gunicorn" else "1",
        # A name of its own in pg_stat_activity, so the sessions it opens can be counted.
        "DATABASE_URL": url if url.startswith("sqlite:") else f"{url}?application_name={APPLICATION_NAME}",
    }
    env.update(item.split("=", 1) for item in args.server_env)
    env.pop("REDIS_URL", None)
    # Its own broker folder: the correlation tasks intake queues must not land in `make run`'s.
    env["CONTROLTOWER_DATA_DIR"] = tempfile.mkdtemp(prefix="controltower-bench-")
    if args.server == "uvicorn":
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "controltower.asgi:application",
            "--port",
            str(args.port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(args.workers),
        ]
    elif args.server == "gunicorn-asgi":
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "controltower.asgi:application",
            "-k",
            "asgi",
            "--asgi-lifespan",
            "off",
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "controltower.wsgi",
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
            *args.gunicorn_args.split(),
        ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit("the server exited at start")
        try:
            if httpx.get(f"http://127.0.0.1:{args.port}/healthz").status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


class RssSampler(threading.Thread):
    """Peak resident memory of the server process and its children, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.stop = pid, 0.0, threading.Event()

    def _pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        found = [self.pid]
        if children.exists():
            found += [int(p) for p in children.read_text().split()]
        return found

    def _rss_mb(self, pid: int) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_mb = max(self.peak_mb, max(self._rss_mb(p) for p in self._pids()))
            time.sleep(0.2)


# --- 2. HTTP batches -------------------------------------------------------------------------
def batch_rate(
    base: str, token: str, events: list[dict], batch_size: int, clients: int
) -> tuple[float, dict]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents-batch+json"}
    bodies = [json.dumps(events[i : i + batch_size]).encode() for i in range(0, len(events), batch_size)]
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "errors": 0}
    lock = threading.Lock()

    def worker(mine: list[bytes]) -> None:
        with httpx.Client(timeout=120) as client:
            for body in mine:
                response = client.post(f"{base}/api/v1/events", content=body, headers=headers)
                with lock:
                    if response.status_code != 200:
                        counts["errors"] += 1
                        continue
                    result = response.json()
                    for key in ("accepted", "duplicate", "rejected"):
                        counts[key] += result[key]

    threads = [threading.Thread(target=worker, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(events) / (time.perf_counter() - started), counts


# --- 3. single events, paced by wrk ----------------------------------------------------------
WRK_SCRIPT = """
local prefix, suffix = %(prefix)s, %(suffix)s
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() + tid * 7919)
end
function request()
  counter = counter + 1
  local id = string.format("wrk-%%d-%%d-%%d", tid, counter, math.random(1000000000))
  return wrk.format("POST", "/api/v1/events", {
    ["Authorization"] = "Bearer %(token)s",
    ["Content-Type"] = "application/cloudevents+json",
  }, prefix .. id .. suffix)
end
function delay()
  return %(delay_ms)d
end
"""


def single_latency_wrk(base: str, token: str, tmpl: dict, rate: int, seconds: int) -> dict[str, float] | None:
    """Paced load from wrk (C, light on the CPU we share with the server): `connections`
    connections each send, wait for the answer, then pause, so the total is about `rate`/s."""
    if shutil.which("wrk") is None:
        return None
    connections = max(1, rate // 10)
    return run_wrk(
        base, token, tmpl, connections=connections, delay_ms=int(1000 * connections / rate), seconds=seconds
    )


def server_cpu_seconds(pid: int) -> float:
    """CPU (user + system) spent so far by the server process and its worker processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])
    total = 0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


class SessionSampler(threading.Thread):
    """Peak number of PostgreSQL sessions the server holds, sampled every 20 ms."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.peak, self.stop = url, 0, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME]
                ).fetchone()
                self.peak = max(self.peak, count)
                time.sleep(0.02)


def single_closed_loop_wrk(
    base: str, token: str, tmpl: dict, connections: int, seconds: int, url: str
) -> dict[str, float]:
    """Every connection sends its next event as soon as the last is answered: what a burst of
    `connections` clients sees (throughput, latency, errors) and how many sessions it costs."""
    sessions = SessionSampler(url)
    if not url.startswith("sqlite:"):
        sessions.start()
    try:
        figures = run_wrk(base, token, tmpl, connections=connections, delay_ms=0, seconds=seconds)
    finally:
        sessions.stop.set()
        if sessions.is_alive():
            sessions.join()
    figures["peak_sessions"] = float(sessions.peak)
    return figures


def run_wrk(base: str, token: str, tmpl: dict, *, connections: int, delay_ms: int, seconds: int) -> dict:
    event = make_event(tmpl)
    event["id"] = "@@ID@@"
    prefix, suffix = json.dumps(event).split("@@ID@@")
    script = WRK_SCRIPT % {
        "prefix": lua_string(prefix),
        "suffix": lua_string(suffix),
        "token": token,
        "delay_ms": delay_ms,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    threads = min(2, connections)
    result = subprocess.run(
        [shutil.which("wrk"), "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
        + ["--timeout", "30s", "-s", handle.name, base],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    out = result.stdout
    if "Requests/sec" not in out:
        raise SystemExit(f"wrk failed:\n{out}\n{result.stderr}")
    figures = {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for label in ("50", "90", "99"):
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if found is None:
            print(f"wrk gave no {label}th percentile:\n{out}", file=sys.stderr)
            figures[f"p{label}_ms"] = float("nan")
            continue
        value, unit = found.groups()
        figures[f"p{label}_ms"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    figures["socket_errors"] = socket_errors.group(1) if socket_errors else "none"
    return figures


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def measure_server(
    args: argparse.Namespace, server_kind: str, token: str, tmpl: dict, events: list[dict], raw: float
) -> None:
    args.server, args.port = server_kind, 0
    args.workers = 1 if server_kind == "uvicorn" else 2
    server = start_server(args, args.database)
    sampler = RssSampler(server.pid)
    sampler.start()
    base = f"http://127.0.0.1:{args.port}"
    try:
        if not args.skip_batch:
            rate, counts = batch_rate(base, token, events, args.batch_size, args.clients)
            print(
                f"  {server_kind}: HTTP batch ingest ({args.workers} worker process(es), {args.clients} clients): "
                f"{rate:,.0f} events/s, ratio to raw {rate / raw:.2f}  {counts}"
            )
        cpu = server_cpu_seconds(server.pid)
        figures = single_latency_wrk(base, token, tmpl, args.rate, args.seconds)
        cpu_ms = (
            1000 * (server_cpu_seconds(server.pid) - cpu) / (figures["requests_per_second"] * args.seconds)
        )
        print(
            f"  {server_kind}: single events at about {args.rate}/s for {args.seconds}s: achieved "
            f"{figures['requests_per_second']:,.0f}/s, p50 {figures['p50_ms']:.1f} ms, "
            f"p90 {figures['p90_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, non-2xx {figures['non_2xx']:.0f}, "
            f"server CPU {cpu_ms:.2f} ms per event"
        )
        if args.concurrency:
            cpu = server_cpu_seconds(server.pid)
            burst = single_closed_loop_wrk(base, token, tmpl, args.concurrency, args.seconds, args.database)
            total = burst["requests_per_second"] * args.seconds
            cpu_ms = 1000 * (server_cpu_seconds(server.pid) - cpu) / total
            print(
                f"  {server_kind}: single events from {args.concurrency} connections, closed loop, "
                f"{args.seconds}s: {burst['requests_per_second']:,.0f}/s, p50 {burst['p50_ms']:.1f} ms, "
                f"p99 {burst['p99_ms']:.1f} ms, non-2xx {burst['non_2xx']:.0f}, socket errors "
                f"{burst['socket_errors']}, peak PostgreSQL sessions {burst['peak_sessions']:.0f}, "
                f"server CPU {cpu_ms:.2f} ms per event"
            )
    finally:
        sampler.stop.set()
        sampler.join()
        server.terminate()
        server.wait(timeout=30)
    print(f"  {server_kind}: web process peak RSS {sampler.peak_mb:.0f} MB (largest single process)")


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/ingest.py needs wrk for the single-event load: `make bench` installs it.")
    fresh_database(args.database)
    token = django_setup(args.database)
    tmpl = template()
    events = [make_event(tmpl) for _ in range(args.events)]
    raw = 0.0
    if not args.skip_batch:
        raw = raw_rate(args.database, events, args.batch_size)
        print(
            f"raw PostgreSQL multi-row insert: {raw:,.0f} events/s ({args.batch_size}-row INSERTs, same indexes)"
        )
    for server_kind in args.servers:
        fresh = [make_event(tmpl) for _ in range(args.events)]
        measure_server(args, server_kind, token, tmpl, fresh, raw)


if __name__ == "__main__":
    main()
