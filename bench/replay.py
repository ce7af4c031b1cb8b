"""Replay benchmark: bulk retry of dead letters through real Celery workers, against a plain HTTP
client posting the same requests to the same receiver, in one run.

    make bench-replay        (or: .venv/bin/python bench/replay.py --help)

Needs PostgreSQL (BENCH_REPLAY_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/ct_bench_replay;
dropped, created and migrated at start) and Redis (BENCH_REPLAY_REDIS_URL, default
redis://127.0.0.1:6379/12: broker, cache and channel layer; flushed before each run). Every
child process runs the production settings (DEBUG off) on them.

Each run:
1. seed: N events (contract-valid CloudEvents of four types, written by the intake's writer)
   and their N deliveries to a sandbox target, dead-lettered after 6 logged 503s;
2. serve the sandbox receiver (error rate 0, no latency) with the real ASGI app (uvicorn,
   2 processes by default);
3. baseline: a plain keep-alive httpx client in 2 processes, sequential requests in each,
   POSTs the same N bodies and headers `transport.delivery_post` would send (distinct
   Idempotency-Keys) to that receiver: requests/s;
4. measured: the receipts are cleared, Celery starts (2 worker processes on the delivery and
   replay queues) and the operator's retry of all N dead letters — `replay_preview`, then
   `replay_start(kind="retry", as_of=…, expected_count=…)` as the API calls them — is timed
   until the job is done: deliveries/s;
5. verify: every delivery delivered by one attempt, and the receiver holds exactly N receipts,
   each received once (run-once semantics through the whole path).
Prints each run's figures with the CPU each party spent per delivery and PostgreSQL's
sessions and transactions per delivery, then the medians of the rate ratio measured / baseline
(target ≥ 0.9) and of the CPU ratio (every party's CPU per delivery; target ≤ 1.3). --profile M then profiles M deliveries in process (bench/replay_profile.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.replay_procs import (  # noqa: E402  (after the path is set)
    CELERY_SHAPES,
    RECEIVER_SERVERS,
    Child,
    CpuMeter,
    PgActivity,
    child_env,
    pids_named,
    postgres_backends,
    processes,
    start_receiver,
    start_workers,
)

# Issue #9: the bulk retry at 0.9x the plain client's rate or better, at 1.3x its CPU per
# delivery or less (all parties: client or workers, receiver, PostgreSQL, Redis).
TARGET_RATIO = 0.9
TARGET_CPU_RATIO = 1.3
WORKER_PROCESSES = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_REPLAY_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ct_bench_replay"
        ),
        help="dropped and created at start; its name must contain 'bench'",
    )
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REPLAY_REDIS_URL", "redis://127.0.0.1:6379/12")
    )
    parser.add_argument(
        "--deliveries", type=int, default=20_000, help="dead letters to retry (default 20,000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs; the medians are the figures (default 3)")
    parser.add_argument(
        "--celery",
        choices=sorted(CELERY_SHAPES),
        default="c2",
        help="; ".join(f"{k}: {v}" for k, v in CELERY_SHAPES.items()) + " (default c2)",
    )
    parser.add_argument(
        "--celery-app",
        default="controltower",
        help="the workers' -A module (default controltower); another one on PYTHONPATH tries a variant",
    )
    parser.add_argument(
        "--worker-log",
        default="WARNING",
        help="the workers' --loglevel (INFO logs every task with its run time; costs CPU)",
    )
    parser.add_argument("--receiver-server", choices=RECEIVER_SERVERS, default="uvicorn")
    parser.add_argument(
        "--receiver-workers", type=int, default=2, help="receiver server processes (default 2)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="M",
        help="after the runs, profile M deliveries in process, one by one and in batches (queries, cProfile)",
    )
    parser.add_argument(
        "--stall", type=float, default=120.0, help="give up when nothing finishes for this long"
    )
    args = parser.parse_args()
    if args.deliveries < 1 or args.runs < 1:
        parser.error("--deliveries and --runs must be at least 1")
    return args


@dataclass(frozen=True)
class RunResult:
    baseline_rate: float
    measured_rate: float
    verified: bool
    baseline_cpu_ms: float  # CPU per delivery, every party counted
    measured_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.measured_rate / self.baseline_rate

    @property
    def cpu_ratio(self) -> float:
        return self.measured_cpu_ms / self.baseline_cpu_ms


class Observer:
    """CPU per party and PostgreSQL activity over one phase, printed per delivery."""

    def __init__(self, database_url: str, groups: dict) -> None:
        database = urlsplit(database_url).path.lstrip("/")
        # Live backends of this database only: one that exits mid-phase (a connection per task)
        # is missed, which is why new sessions are counted too.
        self.cpu = CpuMeter({**groups, "postgres": processes(postgres_backends(database))})
        self.pg = PgActivity(database_url)

    def __enter__(self) -> Observer:
        self.pg.start()
        self.cpu.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.cpu.stop()
        self.pg.stop()

    def cpu_ms(self, count: int, extra_cpu: dict[str, float] | None = None) -> float:
        """CPU per delivery of every party, in ms."""
        return 1000 * sum({**(extra_cpu or {}), **self.cpu.used}.values()) / count

    def lines(self, count: int, seconds: float, extra_cpu: dict[str, float] | None = None) -> str:
        used = {**(extra_cpu or {}), **self.cpu.used}
        cpu = ", ".join(f"{name} {1000 * value / count:.2f}" for name, value in used.items())
        total = self.cpu_ms(count, extra_cpu)
        pg = self.pg.delta
        return (
            f"    CPU ms per delivery: {cpu}; total {total:.1f} (machine {100 * self.cpu.machine_busy:.0f}% "
            f"busy over {seconds:.1f} s, other work included)\n"
            f"    PostgreSQL per delivery: {pg['sessions'] / count:.2f} new sessions, "
            f"{pg['xact_commit'] / count:.1f} transactions, {pg['tup_inserted'] / count:.1f} rows inserted, "
            f"{pg['tup_updated'] / count:.1f} updated"
        )


def broker_ping(names: list[str]) -> set[str]:
    from controltower.celery import app

    answers = app.control.ping(destination=names, timeout=0.5)
    return {name for answer in answers for name in answer}


# --- checks ------------------------------------------------------------------------------------
def receipts_check(network, *, count: int, replay: bool) -> str | None:
    """None when the receiver holds exactly `count` receipts, each received once (and, after the
    replay, exactly under the deliveries' keys); else what is wrong."""
    from django.db.models import Count, Max, Min

    from integrations.delivery.models import Delivery
    from integrations.sandbox.models import SandboxReceipt

    receipts = SandboxReceipt.objects.filter(receiver_id=network.receiver_id)
    stats = receipts.aggregate(n=Count("id"), lo=Min("times_received"), hi=Max("times_received"))
    if stats["n"] != count or stats["lo"] != 1 or stats["hi"] != 1:
        return f"receiver holds {stats['n']} receipts (times_received {stats['lo']}..{stats['hi']})"
    if replay:
        keys = Delivery.objects.filter(target_id=network.target_id).values("idempotency_key")
        matched = receipts.filter(idempotency_key__in=keys).count()
        if matched != count:
            return f"only {matched} receipts carry a delivery's Idempotency-Key"
    return None


def replay_check(job, *, count: int) -> str | None:
    """None when every item and delivery ended delivered, by exactly one attempt (a 201)."""
    from django.db.models import Count

    from integrations.delivery.models import Delivery, DeliveryAttempt
    from integrations.delivery.selectors import replay_progress

    progress = replay_progress(job=job)
    if progress["delivered"] != count:
        return f"job items: {progress}"
    statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("id")))
    if statuses != {"delivered": count}:
        return f"deliveries: {statuses}"
    attempts = dict(
        DeliveryAttempt.objects.filter(job=job).values_list("status_code").annotate(n=Count("id"))
    )
    if attempts != {201: count}:
        return f"attempts of the job by status: {attempts} (one 201 per delivery expected)"
    return None


# --- phases ------------------------------------------------------------------------------------
def warm_up(url: str, network, requests: list[tuple[bytes, dict]]) -> None:
    """A few requests through every layer of the receiver (imports, pool, plans), then forget them."""
    import httpx

    from bench.replay_seed import receipts_clear

    with httpx.Client(timeout=10) as client:
        for body, headers in requests[:50]:
            client.post(
                url,
                content=body,
                headers={**headers, "Idempotency-Key": "warm-" + headers["Idempotency-Key"]},
            )
    receipts_clear(network)


def baseline_phase(args, network, url: str, receiver: Child) -> tuple[float, float]:
    """Requests/s of the plain client, and the CPU per request of every party."""
    from bench.replay_baseline import baseline_run
    from bench.replay_seed import baseline_requests

    count = args.deliveries
    requests = baseline_requests(network)
    warm_up(url, network, requests)
    with Observer(args.database, {"receiver": processes(receiver.pids)}) as seen:
        result = baseline_run(url, requests, processes=WORKER_PROCESSES)
    wrong = None if result.statuses == {201: count} else f"answers by status {result.statuses}"
    wrong = wrong or receipts_check(network, count=count, replay=False)
    print(
        f"  baseline: plain httpx client, {WORKER_PROCESSES} processes: {result.rate:,.0f} requests/s "
        f"({count:,} in {result.seconds:.1f} s) "
        + (f"✔ {count:,} receipts, each received once" if not wrong else f"✘ {wrong}")
    )
    print(seen.lines(count, result.seconds, {"client": result.client_cpu_seconds}))
    if wrong:
        raise SystemExit("the baseline did not deliver everything exactly once: no ratio to give")
    return result.rate, seen.cpu_ms(count, {"client": result.client_cpu_seconds})


def replay_phase(args, network, workers: list[Child], receiver: Child) -> tuple[float, float, bool]:
    """Start the retry as the API does (preview, then start with its count and time) and wait
    for the job to finish; returns deliveries/s, the CPU per delivery of every party and
    whether everything checked out."""
    from django.db.models import Max
    from django.utils import timezone

    from bench.replay_seed import TARGET
    from controltower.accounts.access import access_for
    from controltower.accounts.models import User
    from integrations.delivery.models import Delivery, ReplayJob
    from integrations.delivery.selectors import DeliveryQuery, replay_progress
    from integrations.delivery.services.jobs import replay_preview, replay_start

    count = args.deliveries
    user = User.objects.get(pk=network.user_id)
    query = DeliveryQuery(target=TARGET)
    preview = replay_preview(kind="retry", query=query, access=access_for(user))
    if preview.count != count:
        raise SystemExit(f"the preview counts {preview.count} dead letters, not {count}")
    groups = {
        "celery main": processes(lambda: [w.proc.pid for w in workers]),
        "celery pool": processes(lambda: [pid for w in workers for pid in w.pids()[1:]]),
        "receiver": processes(receiver.pids),
        "redis": processes(pids_named("redis-server")),
    }
    with Observer(args.database, groups) as seen:
        started = timezone.now()
        job = replay_start(
            kind="retry",
            query=query,
            reason="Benchmark: bulk retry after the ERP outage",
            user=user,
            as_of=preview.as_of,
            expected_count=preview.count,
        )
        _wait(job, count=count, stall=args.stall, workers=workers, progress=replay_progress)
    if job.state != ReplayJob.State.DONE:
        raise SystemExit(f"the job ended {job.state}: {job.error}")
    seconds = (job.finished_at - started).total_seconds()
    handed = Delivery.objects.filter(job=job).aggregate(at=Max("enqueued_at"))["at"]
    rate = count / seconds
    wrong = replay_check(job, count=count) or receipts_check(network, count=count, replay=True)
    print(
        f"  measured: bulk retry job {job.pk} through Celery: {rate:,.0f} deliveries/s ({count:,} in "
        f"{seconds:.1f} s; the last chunk was handed to the workers after {(handed - started).total_seconds():.1f} s)"
    )
    print(seen.lines(count, seconds))
    print(
        "    verified: every delivery delivered by one attempt (201); the receiver holds exactly "
        f"{count:,} receipts under the deliveries' keys, each received once ✔"
        if not wrong
        else f"    verification failed ✘: {wrong}"
    )
    return rate, seen.cpu_ms(count), not wrong


def _wait(job, *, count: int, stall: float, workers: list[Child], progress) -> None:
    """Until the job leaves queued/running (its row, by primary key, 4 times a second); stop if a
    worker dies or nothing finishes for `stall` s (item counts, every 5 s: a count over the
    job's items is work for the database the workers share)."""
    finished_before, changed_at, counted_at = -1, time.monotonic(), time.monotonic()
    while True:
        time.sleep(0.25)
        job.refresh_from_db(fields=["state", "finished_at", "error"])
        if job.state not in ("queued", "running"):
            return
        if any(w.proc.poll() is not None for w in workers):
            raise SystemExit("a Celery worker died:\n" + "\n".join(w.tail() for w in workers))
        if time.monotonic() - counted_at < 5:
            continue
        counts, counted_at = progress(job=job), time.monotonic()
        finished = count - counts["pending"]
        if finished != finished_before:
            finished_before, changed_at = finished, counted_at
        elif counted_at - changed_at > stall:
            tails = "\n".join(f"--- {w.name}\n{w.tail()}" for w in workers)
            raise SystemExit(f"no item finished for {stall:.0f} s (job {job.state}, {counts}):\n{tails}")


def one_run(args, network, number: int, log_dir: Path, env: dict[str, str]) -> RunResult:
    from bench.replay_seed import RECEIVER, receipts_clear, redis_flush, run_seed, target_point_at

    redis_flush(args.redis)
    seeded = time.perf_counter()
    run_seed(args.deliveries, network, seed=number)
    print(
        f"run {number}: seeded {args.deliveries:,} dead-lettered deliveries in {time.perf_counter() - seeded:.1f} s"
    )
    receiver, base = start_receiver(
        server=args.receiver_server, workers=args.receiver_workers, env=env, log_dir=log_dir
    )
    workers: list[Child] = []
    try:
        url = f"{base}/sandbox/{RECEIVER}/"
        target_point_at(network, url)
        baseline, baseline_cpu = baseline_phase(args, network, url, receiver)
        receipts_clear(network)
        workers = start_workers(
            shape=args.celery,
            env=env,
            log_dir=log_dir,
            broker_ping=broker_ping,
            loglevel=args.worker_log,
            app=args.celery_app,
        )
        measured, measured_cpu, verified = replay_phase(args, network, workers, receiver)
        result = RunResult(
            baseline_rate=baseline,
            measured_rate=measured,
            verified=verified,
            baseline_cpu_ms=baseline_cpu,
            measured_cpu_ms=measured_cpu,
        )
        print(
            f"  ratio measured / baseline: rate {result.ratio:.2f}, CPU per delivery {result.cpu_ratio:.2f}"
        )
        return result
    finally:
        for worker in workers:
            worker.stop()
        receiver.stop()


def report(results: list[RunResult]) -> None:
    def row(label: str, values: list[float], fmt: str, target: str = "") -> None:
        cells = " | ".join(format(v, fmt) for v in values)
        print(f"  {label:<36} {cells} | median {format(statistics.median(values), fmt)} {target}")

    ratio = statistics.median(r.ratio for r in results)
    mark = "✔" if ratio >= TARGET_RATIO else "✘"
    cpu_ratio = statistics.median(r.cpu_ratio for r in results)
    cpu_mark = "✔" if cpu_ratio <= TARGET_CPU_RATIO else "✘"
    print(f"\nsummary ({len(results)} run(s): each run, then the median)")
    row("baseline plain client, requests/s", [r.baseline_rate for r in results], ",.0f")
    row("bulk retry via Celery, deliveries/s", [r.measured_rate for r in results], ",.0f")
    row("ratio measured / baseline", [r.ratio for r in results], ".2f", f"target ≥ {TARGET_RATIO} {mark}")
    row("CPU per delivery, baseline, ms", [r.baseline_cpu_ms for r in results], ".2f")
    row("CPU per delivery, bulk retry, ms", [r.measured_cpu_ms for r in results], ".2f")
    row(
        "CPU ratio bulk retry / baseline",
        [r.cpu_ratio for r in results],
        ".2f",
        f"target ≤ {TARGET_CPU_RATIO} {cpu_mark}",
    )
    if not all(r.verified for r in results):
        print("  ✘ a run failed verification (see above): its figures do not count")


def main() -> None:
    args = parse_args()
    from bench.replay_seed import data_check, database_fresh, django_setup, network_seed

    log_dir = Path(tempfile.mkdtemp(prefix="ct-bench-replay-"))
    env = child_env(database_url=args.database, redis_url=args.redis, data_dir=str(log_dir))
    print(
        f"replay benchmark: {args.deliveries:,} deliveries × {args.runs} run(s) on {platform.node()} "
        f"({os.cpu_count()} CPUs); receiver: {args.receiver_server} × {args.receiver_workers} processes; "
        f"Celery: {CELERY_SHAPES[args.celery]}, app {args.celery_app}; logs in {log_dir}"
    )
    database_fresh(args.database)
    django_setup(env)
    data_check()
    network = network_seed()
    results = [one_run(args, network, number, log_dir, env) for number in range(1, args.runs + 1)]
    report(results)
    if args.profile:
        from bench.replay_profile import profile

        profile(args, network, env=env, log_dir=log_dir)


if __name__ == "__main__":
    main()
