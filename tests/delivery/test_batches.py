"""A bulk job's deliveries go out in batches (`deliveries_attempt`, the `deliver_batch` task):
each delivery keeps the guarantees of a single attempt — the circuit, parked deliveries, the
job's completion — over real HTTP to a sandbox receiver; and workers keep their database
connection from task to task."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from controltower import changes
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayItem, ReplayJob
from integrations.delivery.selectors import DeliveryQuery
from integrations.delivery.services.delivering import IN_FLIGHT, deliveries_attempt, delivery_attempt
from integrations.delivery.services.jobs import replay_jobs_sweep, replay_start
from integrations.delivery.services.pausing import target_drain, target_pause, target_resume
from integrations.sandbox.selectors import sandbox_receipts_in_arrival_order
from integrations.sandbox.services import sandbox_receiver_upsert
from tests.conftest import start_celery_worker, wait_for
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db(transaction=True)


def _deliveries(client, network, target, subscribe, count: int, prefix: str) -> list[int]:
    subscribe(target, "purchase_order.released")
    for n in range(count):
        post_events(client, network["erp"], po_released(po=f"4520{n:06d}", event_id=f"evt-{prefix}-{n}"))
    return list(Delivery.objects.filter(target=target).order_by("id").values_list("id", flat=True))


def test_a_batch_stops_sending_once_the_targets_circuit_opens(
    client, network, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=503)
    target = make_target(
        "erp-post", url=f"{asgi_server}/sandbox/erp/", circuit_threshold=2, circuit_probe_seconds=60
    )
    ids = _deliveries(client, network, target, subscribe, IN_FLIGHT + 3, "circuit")

    # The first group is out at once; after its answers the circuit is open for the rest.
    assert deliveries_attempt(delivery_ids=ids) == ["retrying"] * IN_FLIGHT + ["postponed"] * 3
    target.refresh_from_db()
    assert target.circuit == "open"
    assert DeliveryAttempt.objects.count() == IN_FLIGHT  # the others were held back unsent
    held = Delivery.objects.filter(pk__in=ids[IN_FLIGHT:])
    assert {d.attempts_total for d in held} == {0} and {d.status for d in held} == {"pending"}
    assert all(d.next_attempt_at >= target.circuit_opened_at for d in held)


def test_a_delivery_attempted_since_the_batch_loaded_it_is_not_sent_again(
    client, network, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=503)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/", backoff_seconds=0.05, max_attempts=5)
    [pk] = _deliveries(client, network, target, subscribe, 1, "stale")
    # The second turn holds the row as loaded before the first: it stands for another worker
    # having attempted the delivery meanwhile. Its retry is due at once, so only the row's
    # changed attempt count stops a second send.
    assert deliveries_attempt(delivery_ids=[pk, pk]) == ["retrying", "skipped"]
    assert DeliveryAttempt.objects.filter(delivery_id=pk).count() == 1
    assert Delivery.objects.get(pk=pk).attempts_total == 1


def test_a_group_claims_only_rows_free_of_a_live_lease_and_takes_over_an_expired_one(
    client, network, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/")
    free, held, lapsed = _deliveries(client, network, target, subscribe, 3, "leases")
    now = timezone.now()
    # Another worker holds `held` now; the worker that leased `lapsed` died mid-send.
    Delivery.objects.filter(pk=held).update(lease_until=now + timezone.timedelta(minutes=5))
    Delivery.objects.filter(pk=lapsed).update(lease_until=now - timezone.timedelta(seconds=1))
    DeliveryAttempt.objects.create(
        delivery_id=lapsed, number=1, cause="first", started_at=now, outcome="sending"
    )

    # One statement claims the group: NULL leases and expired ones match as loaded, a live one not.
    assert deliveries_attempt(delivery_ids=[free, held, lapsed, free]) == [
        "delivered",
        "skipped",
        "delivered",
        "skipped",
    ]
    assert Delivery.objects.get(pk=held).status == "pending"
    assert list(
        DeliveryAttempt.objects.filter(delivery_id=lapsed).order_by("id").values_list("number", "outcome")
    ) == [(1, "interrupted"), (1, "delivered")]
    assert sorted(r.idempotency_key for r in sandbox_receipts_in_arrival_order(receiver="erp")) == sorted(
        Delivery.objects.filter(pk__in=[free, lapsed]).values_list("idempotency_key", flat=True)
    )


def test_a_batch_leaves_what_a_slow_target_gives_it_no_time_for(
    client, network, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=0.0, latency_ms=1500)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/", timeout_seconds=3.0)
    count = IN_FLIGHT + 2
    ids = _deliveries(client, network, target, subscribe, count, "slow")
    # 3.6 s: the first group (~1.5 s, in flight together) leaves too little for another that
    # may take 3 s. (Long, so a loaded machine's scheduling delays stay small beside it.)
    assert deliveries_attempt(delivery_ids=ids, seconds=3.6) == ["delivered"] * IN_FLIGHT + ["deferred"] * 2
    rest = ids[IN_FLIGHT:]
    assert set(Delivery.objects.filter(pk__in=rest).values_list("status", "attempts_total")) == {
        ("pending", 0)
    }
    assert deliveries_attempt(delivery_ids=rest) == ["delivered", "delivered"]  # handed on, they go
    receipts = list(sandbox_receipts_in_arrival_order(receiver="erp"))
    assert len(receipts) == count
    # The first group was out together: one after another, each would arrive 1.5 s after the last.
    arrivals = [receipt.first_received_at for receipt in receipts[:IN_FLIGHT]]
    assert (max(arrivals) - min(arrivals)).total_seconds() < 1.35


def test_a_batch_parks_deliveries_behind_a_parked_one_and_the_drain_sends_all_in_order(
    client, network, operator, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/")
    first, *later = _deliveries(client, network, target, subscribe, 4, "parked")

    target_pause(target=target, user=operator, reason="ERP maintenance window")
    assert delivery_attempt(delivery_id=first) == "paused"
    target_resume(target=target, user=operator)
    # Resumed, but the older delivery has not drained yet: the newer ones wait behind it.
    assert deliveries_attempt(delivery_ids=later) == ["paused", "paused", "paused"]
    assert not sandbox_receipts_in_arrival_order(receiver="erp").exists()

    done, more = target_drain(target_id=target.pk)
    assert (done, more) == (4, False)
    received = [r.idempotency_key for r in sandbox_receipts_in_arrival_order(receiver="erp")]
    expected = [Delivery.objects.get(pk=pk).idempotency_key for pk in [first, *later]]
    assert received == expected


def test_a_job_whose_items_all_finished_is_completed_by_the_sweeper(
    client, network, operator, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=400)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/")
    ids = _deliveries(client, network, target, subscribe, 3, "finish")
    assert deliveries_attempt(delivery_ids=ids) == ["dead_lettered"] * 3
    job = replay_start(
        kind="retry", query=DeliveryQuery(target="erp-post"), reason="ERP fixed", user=operator
    )
    # The worker recorded every item, then died before it could check whether the job was done.
    ReplayJob.objects.filter(pk=job.pk).update(state="running", started_at=timezone.now())
    ReplayItem.objects.bulk_create(
        [ReplayItem(job=job, delivery_id=pk, enqueued=True, outcome="delivered") for pk in ids]
    )

    replay_jobs_sweep(stale_after=timezone.timedelta(0))
    job.refresh_from_db()
    assert job.state == "done" and job.finished_at is not None


@pytest.mark.worker
@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's pg_stat_activity")
def test_a_worker_keeps_its_database_connection_from_task_to_task(
    client, network, asgi_server, make_target, subscribe, tmp_path
):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=400)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/")
    # The production default (the suite's processes otherwise close connections at once).
    worker = start_celery_worker(tmp_path, name="reuse", DATABASE_CONN_MAX_AGE="60")
    try:
        ids = _deliveries(client, network, target, subscribe, 6, "conn")
        wait_for(
            lambda: Delivery.objects.filter(pk__in=ids, status="dead_lettered").count() == 6,
            timeout=60,
            what=f"six tasks\n{worker.output()}",
        )
        sessions = _worker_sessions_older_than_the_first_attempt()
    finally:
        worker.stop()
    # Six `deliver` tasks ran; the session that served the first is still the worker's.
    assert sessions == 1


def _worker_sessions_older_than_the_first_attempt() -> int:
    first_started = DeliveryAttempt.objects.order_by("started_at").first().started_at

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'controltower-worker' AND backend_start < %s",
            [first_started],
        )
        [(sessions,)] = cursor.fetchall()
    return sessions


class _Transactions:
    """Counts the transactions a connection commits: explicit commits, and each write statement
    run outside a transaction (autocommit makes it one)."""

    def __init__(self, conn) -> None:
        self.conn, self.count = conn, 0

    def __call__(self, execute, sql, params, many, context):
        if not self.conn.in_atomic_block and sql.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE"}:
            self.count += 1
        return execute(sql, params, many, context)


def test_a_batch_commits_once_to_start_each_group_and_once_to_record_it(
    client, network, asgi_server, make_target, subscribe, monkeypatch
):
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/")
    ids = _deliveries(client, network, target, subscribe, 2 * IN_FLIGHT, "commits")
    transactions = _Transactions(connection)
    commit = connection.commit

    def counted_commit():
        transactions.count += 1
        return commit()

    monkeypatch.setattr(connection, "commit", counted_commit)
    # Only the delivering's own transactions: what listeners of its announced changes do after
    # each commit (a trace lookup, say) is theirs, and counted by their own tests.
    monkeypatch.setattr(changes, "_send", lambda found: None)
    with connection.execute_wrapper(transactions):
        assert deliveries_attempt(delivery_ids=ids) == ["delivered"] * len(ids)
    # Two groups of IN_FLIGHT: claims and attempts in one transaction, records in another (was
    # one transaction per claim, per attempt and per record: 3 per delivery).
    assert transactions.count == 2 * 2
    attempts = DeliveryAttempt.objects.filter(delivery_id__in=ids)
    assert sorted(attempts.values_list("outcome", flat=True)) == ["delivered"] * len(ids)
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempts_total")) == {
        ("delivered", 1)
    }


class _Updates:
    """Lists the UPDATE statements a connection sends to the delivery, attempt and item tables."""

    counted = {"delivery_delivery", "delivery_deliveryattempt", "delivery_replayitem"}

    def __init__(self) -> None:
        self.tables: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        words = sql.split(None, 2)
        if words[0].upper() == "UPDATE" and words[1].strip('"') in self.counted:
            self.tables.append(words[1].strip('"'))
        return execute(sql, params, many, context)


def test_a_batch_claims_and_records_each_group_with_one_update_per_table(
    client, network, operator, asgi_server, make_target, subscribe
):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=400)
    target = make_target("erp-post", url=f"{asgi_server}/sandbox/erp/")
    ids = _deliveries(client, network, target, subscribe, 2 * IN_FLIGHT, "records")
    assert deliveries_attempt(delivery_ids=ids) == ["dead_lettered"] * len(ids)
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    job = replay_start(
        kind="retry", query=DeliveryQuery(target="erp-post"), reason="ERP fixed", user=operator
    )
    ReplayJob.objects.filter(pk=job.pk).update(state="running", started_at=timezone.now())
    ReplayItem.objects.bulk_create([ReplayItem(job=job, delivery_id=pk, enqueued=True) for pk in ids])
    Delivery.objects.filter(pk__in=ids).update(
        status="pending", attempts=0, job=job, round_cause="bulk", next_attempt_at=timezone.now()
    )

    updates = _Updates()
    with connection.execute_wrapper(updates):
        assert deliveries_attempt(delivery_ids=ids) == ["delivered"] * len(ids)
    # Each group of IN_FLIGHT deliveries is claimed with one conditional update (was one per
    # delivery); its answers are then recorded with one update of the attempts, one of the
    # deliveries and one of the job's items (was one of each per delivery).
    groups = len(ids) // IN_FLIGHT
    assert sorted(updates.tables) == sorted(
        ["delivery_delivery"] * (groups + groups)
        + ["delivery_deliveryattempt"] * groups
        + ["delivery_replayitem"] * groups
    )
    assert set(ReplayItem.objects.filter(job=job).values_list("outcome", flat=True)) == {"delivered"}
    assert set(
        Delivery.objects.filter(pk__in=ids).values_list("status", "attempts_total", "lease_until")
    ) == {("delivered", 2, None)}
    assert sorted(DeliveryAttempt.objects.filter(delivery_id__in=ids).values_list("outcome", flat=True)) == (
        ["dead_lettered"] * len(ids) + ["delivered"] * len(ids)
    )
