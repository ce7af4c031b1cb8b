"""Where a bulk-retry delivery's time goes: `delivery_attempt` in process, no Celery.

    .venv/bin/python bench/replay.py --runs 1 --deliveries 2000 --profile 2000

After the benchmark's runs (same database, same receiver settings), M dead letters are seeded
again and a retry job is started through `replay_start`; its runner (`replay_run`) is then run
in this process with the `deliver` publish captured instead of sent, so the deliveries are in
exactly the state the workers get them in. Then, against a live receiver:
1. the SQL of one `delivery_attempt` (Django's query capture), with each query's time;
2. half the calls timed plainly, with the database time and query count per call;
3. the other half under cProfile: the top functions by cumulative and by own time.
Comparing the per-call time here with the workers' per-delivery time in the benchmark shows
what Celery (messages, acks, prefork hand-off) adds.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from pathlib import Path
from unittest import mock


class _DbTimer:
    """A connection execute wrapper adding up statements and their wall time; with `keep`, also
    each statement's SQL (parameters filled in) and time."""

    def __init__(self, *, keep: bool = False) -> None:
        self.count, self.seconds, self.keep = 0, 0.0, keep
        self.statements: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.seconds += took
            self.count += 1
            if self.keep:
                connection = context["connection"]
                text = connection.ops.last_executed_query(context["cursor"].cursor, sql, params)
                self.statements.append((took, text))


def _prepared_deliveries(network, count: int) -> list[int]:
    """Seed `count` dead letters, start a retry of them and hand them over in process; returns
    the delivery ids whose `deliver` tasks would have been published."""
    from bench.replay_seed import TARGET, run_seed
    from controltower.accounts.models import User
    from integrations.delivery.selectors import DeliveryQuery
    from integrations.delivery.services.jobs import replay_run, replay_start

    run_seed(count, network, seed=1_000)
    user = User.objects.get(pk=network.user_id)
    job = replay_start(kind="retry", query=DeliveryQuery(target=TARGET), reason="profile", user=user)
    with mock.patch("integrations.delivery.tasks.deliver.apply_async") as publish:
        replay_run(job_id=job.pk)
    return [call.kwargs["kwargs"]["delivery_id"] for call in publish.call_args_list]


def _timed(ids: list[int], label: str, *, connection, call, reconnect: bool = False) -> None:
    timer = _DbTimer()
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timer):
        for pk in ids:
            if reconnect:
                connection.close()
            call(delivery_id=pk)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  {len(ids):,} calls, {label}: {1000 * seconds / len(ids):.2f} ms per call ({len(ids) / seconds:,.0f}/s "
        f"in one process); database {1000 * timer.seconds / len(ids):.2f} ms in {timer.count / len(ids):.1f} "
        f"statements; CPU of this process {1000 * cpu / len(ids):.2f} ms"
    )


def _top(profiler: cProfile.Profile, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[start : start + limit + 1])


def profile(args, network, *, env: dict[str, str], log_dir: Path) -> None:
    from django.db import connection

    from bench.replay_procs import start_receiver
    from bench.replay_seed import RECEIVER, receipts_clear, redis_flush, target_point_at
    from integrations.delivery.services.delivering import delivery_attempt

    count = max(args.profile, 10)
    redis_flush(args.redis)
    receiver, base = start_receiver(
        server=args.receiver_server, workers=args.receiver_workers, env=env, log_dir=log_dir
    )
    try:
        target_point_at(network, f"{base}/sandbox/{RECEIVER}/")
        ids = _prepared_deliveries(network, count)
        redis_flush(args.redis)  # the job's runner message: it ran here
        receipts_clear(network)
        print(f"\nprofile: {len(ids):,} delivery_attempt calls in process against {base} (no Celery)")
        delivery_attempt(delivery_id=ids[0])  # first: imports, HTTP connection, DB connection
        recorder = _DbTimer(keep=True)
        with connection.execute_wrapper(recorder):
            outcome = delivery_attempt(delivery_id=ids[1])
        print(
            f"  one call ({outcome}): {recorder.count} statements (plus BEGIN/COMMIT of the one atomic block)"
        )
        for took, text in recorder.statements:
            print(f"    {took * 1000:6.2f} ms  {text[:150]}")

        rest = ids[2:]
        third = len(rest) // 3
        plain, reconnecting, profiled = rest[:third], rest[third : 2 * third], rest[2 * third :]
        _timed(plain, "persistent connection", connection=connection, call=delivery_attempt)
        # Celery's Django fixup closes the connections before and after every task (unless
        # CELERY_DB_REUSE_MAX is set): this is what each worker task pays for it.
        _timed(
            reconnecting,
            "new connection per call",
            connection=connection,
            call=delivery_attempt,
            reconnect=True,
        )

        profiler = cProfile.Profile()
        profiler.enable()
        for pk in profiled:
            delivery_attempt(delivery_id=pk)
        profiler.disable()
        print(f"  {len(profiled):,} calls under cProfile; top by cumulative time:")
        print(_top(profiler, "cumulative", 35))
        print("  top by own time:")
        print(_top(profiler, "tottime", 25))
        dump = log_dir / "delivery_attempt.prof"
        profiler.dump_stats(dump)
        print(f"  (full profile: {dump})")
    finally:
        receiver.stop()
