"""Ingest benchmark: end-to-end HTTP intake against the raw PostgreSQL insert rate, in one run.

    make bench-ingest        (or: .venv/bin/python bench/ingest.py --help)

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/...; the
database is created fresh). It measures, on the same machine and in the same run:
1. raw: 500-row multi-row INSERTs of event rows and their identifier rows into tables of the
   same shape and indexes as the real ones (one transaction per 500 events);
2. batch: 500 CloudEvents per request through the real ASGI server (uvicorn): auth,
   parsing, contract validation, dedupe, identifiers;
3. single: one event per request, open loop at --rate events/s, latency p50/p99;
and samples the web process's RSS throughout. Prints events/s and ratios to raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
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
    parser.add_argument("--server", choices=["uvicorn", "gunicorn"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    return parser.parse_args()


# --- setup -----------------------------------------------------------------------------------
def fresh_database(url: str) -> None:
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
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL": "1" if args.server == "uvicorn" else "0",
    }
    env.pop("REDIS_URL", None)
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


# --- 3. single events, open loop -------------------------------------------------------------
async def single_latency(
    base: str, token: str, tmpl: dict, rate: int, seconds: int
) -> tuple[list[float], int, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents+json"}
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(body: bytes) -> None:
            nonlocal failures
            started = time.perf_counter()
            try:
                response = await client.post(f"{base}/api/v1/events", content=body, headers=headers)
                ok = response.status_code == 202
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok

        total = rate * seconds
        bodies = [json.dumps(make_event(tmpl)).encode() for _ in range(total)]
        tasks = []
        start = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
        achieved = total / (time.perf_counter() - start)
    return latencies, failures, achieved


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def main() -> None:
    args = parse_args()
    fresh_database(args.database)
    token = django_setup(args.database)
    tmpl = template()
    events = [make_event(tmpl) for _ in range(args.events)]
    raw = raw_rate(args.database, events, args.batch_size)
    print(
        f"raw PostgreSQL multi-row insert: {raw:,.0f} events/s ({args.batch_size}-row INSERTs, same indexes)"
    )

    server = start_server(args, args.database)
    sampler = RssSampler(server.pid)
    sampler.start()
    base = f"http://127.0.0.1:{args.port}"
    try:
        rate, counts = batch_rate(base, token, events, args.batch_size, args.clients)
        print(
            f"HTTP batch ingest ({args.server}, {args.workers} worker(s), {args.clients} clients): "
            f"{rate:,.0f} events/s  ratio to raw: {rate / raw:.2f}  {counts}"
        )
        latencies, failures, achieved = asyncio.run(
            single_latency(base, token, tmpl, args.rate, args.seconds)
        )
        print(
            f"single events at {args.rate}/s for {args.seconds}s: achieved {achieved:,.0f}/s, "
            f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, failures {failures}"
        )
    finally:
        sampler.stop.set()
        sampler.join()
        server.terminate()
        server.wait(timeout=30)
    print(f"web process peak RSS: {sampler.peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
