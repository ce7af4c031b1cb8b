"""Where a bulk-retry delivery's time goes: the delivery services in process, no Celery.

    .venv/bin/python bench/replay.py --runs 1 --deliveries 2000 --profile 2000

After the benchmark's runs (same database, same receiver settings), M dead letters are seeded
again and a retry job is started through `replay_start`; its runner (`replay_run`) is then run
in this process with the `deliver_batch` publish captured instead of sent, so the deliveries
are in exactly the state the workers get them in. Then, against a live receiver:
1. the SQL of one `delivery_attempt` (each statement with its time);
2. a third of the batches one `delivery_attempt` per delivery, a third by `deliveries_attempt`
   per batch (as the workers run them), each with the database time and statements per delivery;
3. the last third under cProfile: the top functions by cumulative and by own time.
Comparing the per-delivery time here with the workers' per-delivery time in the benchmark shows
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


def _prepared_batches(network, count: int) -> list[list[int]]:
    """Seed `count` dead letters, start a retry of them and hand them over in process; returns
    the batches of delivery ids whose `deliver_batch` tasks would have been published."""
    from bench.replay_seed import TARGET, run_seed
    from controltower.accounts.models import User
    from integrations.delivery.selectors import DeliveryQuery
    from integrations.delivery.services.jobs import replay_run, replay_start

    run_seed(count, network, seed=1_000)
    user = User.objects.get(pk=network.user_id)
    job = replay_start(kind="retry", query=DeliveryQuery(target=TARGET), reason="profile", user=user)
    with mock.patch("integrations.delivery.tasks.deliver_batch.apply_async") as publish:
        replay_run(job_id=job.pk)
    return [call.kwargs["kwargs"]["delivery_ids"] for call in publish.call_args_list]


def _timed(batches: list[list[int]], label: str, *, connection, one_by_one: bool) -> None:
    from integrations.delivery.services.delivering import deliveries_attempt, delivery_attempt

    timer = _DbTimer()
    ids = [pk for batch in batches for pk in batch]
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timer):
        if one_by_one:
            for pk in ids:
                delivery_attempt(delivery_id=pk)
        else:
            for batch in batches:
                deliveries_attempt(delivery_ids=batch)
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
    from integrations.delivery.services.delivering import deliveries_attempt, delivery_attempt

    count = max(args.profile, 10)
    redis_flush(args.redis)
    receiver, base = start_receiver(
        server=args.receiver_server, workers=args.receiver_workers, env=env, log_dir=log_dir
    )
    try:
        target_point_at(network, f"{base}/sandbox/{RECEIVER}/")
        batches = _prepared_batches(network, count)
        ids = [pk for batch in batches for pk in batch]
        redis_flush(args.redis)  # the job's runner message: it ran here
        receipts_clear(network)
        print(f"\nprofile: {len(ids):,} deliveries in process against {base} (no Celery)")
        delivery_attempt(delivery_id=ids[0])  # first: imports, HTTP connection, DB connection
        recorder = _DbTimer(keep=True)
        with connection.execute_wrapper(recorder):
            outcome = delivery_attempt(delivery_id=ids[1])
        print(
            f"  one delivery_attempt ({outcome}): {recorder.count} statements "
            "(plus BEGIN/COMMIT of the one atomic block)"
        )
        for took, text in recorder.statements:
            print(f"    {took * 1000:6.2f} ms  {text[:150]}")

        rest = [batch for batch in batches if ids[0] not in batch and ids[1] not in batch]
        third = len(rest) // 3
        one_by_one, batched, profiled = rest[:third], rest[third : 2 * third], rest[2 * third :]
        _timed(one_by_one, "one delivery_attempt per delivery", connection=connection, one_by_one=True)
        _timed(batched, "deliveries_attempt per batch", connection=connection, one_by_one=False)

        profiler = cProfile.Profile()
        profiler.enable()
        for batch in profiled:
            deliveries_attempt(delivery_ids=batch)
        profiler.disable()
        profiled = [pk for batch in profiled for pk in batch]
        print(f"  {len(profiled):,} deliveries (in batches) under cProfile; top by cumulative time:")
        print(_top(profiler, "cumulative", 35))
        print("  top by own time:")
        print(_top(profiler, "tottime", 25))
        dump = log_dir / "deliveries_attempt.prof"
        profiler.dump_stats(dump)
        print(f"  (full profile: {dump})")
    finally:
        receiver.stop()
