"""One delivery attempt, from claiming the row to recording what the target answered.

`delivery_attempt` is what the `deliver` task runs (`deliveries_attempt`, a bulk job's batch).
It is safe to run for the same delivery any number of times, concurrently, or after a worker
died mid-way: a lease on the row lets one worker at a time send, and the target sees the same
`Idempotency-Key` on every send, so at worst a target gets a duplicate it recognises — never a
lost or double effect.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from controltower.changes import Kind, announce
from controltower.queueing import enqueue_after_commit
from controltower.rows import rows_insert, rows_update
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayItem, Target
from integrations.delivery.services.circuit import circuit_gate, circuit_record
from integrations.delivery.services.policy import Outcome, backoff_delay, gives_up
from integrations.delivery.services.ratelimit import rate_wait
from integrations.delivery.services.transport import Request, delivery_request, http_client, request_send

logger = logging.getLogger(__name__)

LIVE = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
# The same set, spelled as "none of the others" for updates by primary key: a `status IN LIVE`
# condition lets PostgreSQL pick the partial index of live deliveries instead of the primary key
# when its statistics still say that index is tiny (right after a bulk retry made 20,000 rows
# live), and each claim then walks every live row: quadratic in the size of the job.
NOT_LIVE = tuple(sorted(set(Delivery.Status.values) - set(LIVE)))
# A task may arrive this much before its countdown ends (clock skew between processes).
EARLY = timedelta(seconds=0.5)
# `DeliveryAttempt.outcome` while the request is out, and after its worker died.
SENDING = "sending"
INTERRUPTED = "interrupted"
FINISHED_ITEM_OUTCOMES = tuple(sorted(set(ReplayItem.Outcome.values) - {ReplayItem.Outcome.PENDING}))
# What `circuit_gate` and `circuit_record` read from a target, re-read when it may have changed.
CIRCUIT_FIELDS = ("circuit", "circuit_opened_at", "consecutive_failures")
# Requests of one batch out at once (and the deliveries claimed, logged and recorded together):
# a worker process spends most of a delivery waiting on the target, so a few concurrent POSTs
# keep it busy; few, so that a failing target gets at most this many before its circuit's count
# catches up: the default circuit threshold (`Target.circuit_threshold`), so a target failing
# from the start gets no request beyond the ones that open its circuit.
IN_FLIGHT = 5
# Retries due within this many seconds get a countdown task; later ones are left to the sweeper.
COUNTDOWN_MAX = 120


def delivery_attempt(*, delivery_id: int) -> str:
    """Try delivery `delivery_id` once if it is live, due and not leased; returns what happened
    (for logs and tests): delivered, retrying, dead_lettered, paused, postponed or skipped.

    Guarantees: at most one worker sends a delivery at a time (lease); every send is recorded
    as a `DeliveryAttempt` with time, status, latency, error class and a response excerpt; a
    paused target parks the delivery (`paused`), an open circuit or the rate limit postpones it
    without spending an attempt; a retryable failure schedules the next attempt by the target's
    policy, anything else dead-letters it with its reason. Every change of a delivery's status
    or attempts is announced (`Kind.DELIVERY_CHANGED`, plus `Kind.DEAD_LETTERED` when it gives up,
    plus `Kind.JOB_PROGRESS` for the job whose item it finishes), after commit.
    """
    return deliveries_attempt(delivery_ids=[delivery_id])[0]


def deliveries_attempt(*, delivery_ids: Sequence[int], seconds: float | None = None) -> list[str]:
    """`delivery_attempt` for several deliveries (a bulk job hands its items to the workers
    this way); returns each one's result in the order given.

    Each delivery is still claimed, sent and recorded on its own, with the same guarantees. What
    is shared: the rows and their targets are loaded in one query, the "behind a parked delivery"
    check is one query per call, the replay jobs concerned are checked for completion once at the
    end, and up to `IN_FLIGHT` requests are out at once (claimed and written down before, recorded
    after, all on this thread's connection; only the HTTP runs in threads). A target's circuit
    state is re-read after an answer that may have changed it, so a batch stops sending to a
    target whose circuit opened under it.

    With `seconds`, no group of requests after the first starts if its targets' timeout could carry
    it past that many seconds from the call (a slow target must not run a batch into the task's
    time limit): those deliveries are left untouched and reported `deferred`, for the caller to
    hand on.
    """
    ends_at = None if seconds is None else time.monotonic() + seconds
    ids = [int(pk) for pk in delivery_ids]
    loaded = Delivery.objects.select_related("target", "event").in_bulk(ids)
    live = [position for position, pk in enumerate(ids) if pk in loaded and loaded[pk].status in LIVE]
    first_parked = _first_parked(target_ids={loaded[ids[position]].target_id for position in live})
    targets: dict[int, Target] = {}
    results = ["skipped"] * len(ids)
    finished_jobs: set[int] = set()
    for start in range(0, len(live), IN_FLIGHT):
        group = [(position, loaded[ids[position]]) for position in live[start : start + IN_FLIGHT]]
        longest = max(delivery.target.timeout_seconds for _, delivery in group)
        if ends_at is not None and start and time.monotonic() + longest > ends_at:
            for position in live[start:]:
                results[position] = "deferred"
            break
        # One transaction claims the group and writes its attempts down, one records its answers:
        # two commits per group instead of three per delivery (the worker's CPU and PostgreSQL's
        # per delivery were 1.8x and 3.6x the plain client's in the bulk-retry benchmark).
        with transaction.atomic():
            now = timezone.now()
            for _, delivery in group:
                # One Target object per target, so a circuit change seen by one delivery holds for the next.
                delivery.target = targets.setdefault(delivery.target_id, delivery.target)
            leases = _claims_take([delivery for _, delivery in group], now=now)
            claimed: list[tuple[int, Delivery, _Claim]] = []
            for position, delivery in group:
                lease = leases.pop(delivery.pk, None)  # a delivery twice in a group is claimed once
                if lease is None:
                    results[position] = "skipped"
                    continue
                parked_before = first_parked.get(delivery.target_id, delivery.pk) < delivery.pk
                claim = _claimed_request(delivery, lease, now=now, parked_before=parked_before)
                if isinstance(claim, str):
                    results[position] = claim
                else:
                    claimed.append((position, delivery, claim))
            attempts = _attempts_begin([(delivery, claim.started) for _, delivery, claim in claimed])
        sends = [
            (position, delivery, _Sending(claim.lease, attempt_id, claim.request, claim.probe))
            for (position, delivery, claim), attempt_id in zip(claimed, attempts, strict=True)
        ]
        outcomes = _send_all([began.request for _, _, began in sends])
        recorded = _records_write(
            [
                _Answer(delivery, began.lease, began.attempt_id, outcome)
                for (_, delivery, began), outcome in zip(sends, outcomes, strict=True)
            ]
        )
        # The circuit counts each answer in turn, after the records are committed.
        for (position, delivery, began), outcome, result in zip(sends, outcomes, recorded, strict=True):
            target = delivery.target
            circuit_record(target=target, outcome=outcome, now=timezone.now())
            if began.probe or not outcome.delivered or target.consecutive_failures:
                target.refresh_from_db(fields=CIRCUIT_FIELDS)
            if delivery.job_id and result in ("delivered", "dead_lettered"):
                finished_jobs.add(delivery.job_id)
            results[position] = result
    if finished_jobs:
        from integrations.delivery.services.jobs import replay_job_finish_if_done

        for job_id in sorted(finished_jobs):
            transaction.on_commit(partial(replay_job_finish_if_done, job_id=job_id))
    return results


@dataclass(frozen=True)
class _Claim:
    """A claimed delivery whose request is built; its attempt is written down with its group's."""

    lease: datetime
    started: datetime
    request: Request
    probe: bool


@dataclass(frozen=True)
class _Sending:
    """A claimed delivery whose attempt is written down and whose request is built."""

    lease: datetime
    attempt_id: int
    request: Request
    probe: bool


def _claims_take(deliveries: list[Delivery], *, now: datetime) -> dict[int, datetime]:
    """Claim the deliveries whose rows are still as loaded, live and due, with one UPDATE;
    returns the lease of each one claimed, by id.

    A row is claimed only if it is as loaded (a batch loads its rows before their turn: another
    worker that attempted or leased it since did so with its own counts and its own lease) and
    its lease, if any, has expired. The lease outlives the HTTP timeout by a margin (time to
    record the answer)."""
    leases: dict[int, datetime] = {}
    rows = []
    for delivery in deliveries:
        if delivery.pk not in leases:
            margin = delivery.target.timeout_seconds + settings.CONTROLTOWER_DELIVERY_LEASE_MARGIN
            leases[delivery.pk] = now + timedelta(seconds=margin)
            rows.append((delivery.pk, delivery.attempts_total, delivery.lease_until, leases[delivery.pk]))
    ops = connection.ops
    column = partial(_column, Delivery)
    not_live = ", ".join(f"'{status}'" for status in NOT_LIVE)
    won = rows_update(
        Delivery,
        match=("id", "attempts_total", "lease_until"),
        match_nulls=("lease_until",),
        fields=("lease_until",),
        rows=rows,
        where=(
            f"{column('status')} NOT IN ({not_live}) AND {column('next_attempt_at')} <= %s"
            f" AND ({column('lease_until')} IS NULL OR {column('lease_until')} < %s)"
        ),
        where_params=[ops.adapt_datetimefield_value(now + EARLY), ops.adapt_datetimefield_value(now)],
        returning="id",
    )
    return {pk: leases[pk] for pk in won}


def _column(model, name: str) -> str:
    ops = connection.ops
    return f"{ops.quote_name(model._meta.db_table)}.{ops.quote_name(model._meta.get_field(name).column)}"


def _claimed_request(
    delivery: Delivery, lease: datetime, *, now: datetime, parked_before: bool
) -> str | _Claim:
    """For a claimed delivery, its request; or why it is not sent now (paused, postponed),
    its claim released."""
    target = delivery.target
    if target.paused or not target.active or parked_before:
        _release(delivery, lease, status=Delivery.Status.PAUSED)
        _announce_changed(delivery)
        return "paused"
    gate = circuit_gate(target=target, now=now)
    if not gate.go:
        return _postpone(delivery, lease, until=gate.wait_until)
    wait = rate_wait(target=target)
    if wait:
        return _postpone(delivery, lease, until=now + timedelta(seconds=wait))
    request = delivery_request(delivery=delivery, target=target)
    return _Claim(lease=lease, started=now, request=request, probe=gate.probe)


_sender: ThreadPoolExecutor | None = None


def _send_all(requests: list[Request]) -> list[Outcome]:
    """Send the requests, concurrently when there are several; outcomes in the same order."""
    global _sender
    if len(requests) <= 1:
        return [request_send(request) for request in requests]
    if _sender is None:
        http_client()  # created here, not raced for by the threads
        _sender = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="delivery-send")
    return list(_sender.map(request_send, requests))


def _forget_sender() -> None:
    # A forked worker process inherits the pool object but none of its threads.
    global _sender
    _sender = None


os.register_at_fork(after_in_child=_forget_sender)


def _attempts_begin(claimed: list[tuple[Delivery, datetime]]) -> list[int]:
    """Write the attempts down before sending (one INSERT for the group): if this worker dies
    mid-send, the log still shows an attempt was made (marked interrupted by the next one) —
    the target may have acted on it. Returns their ids."""
    for delivery, _ in claimed:
        if delivery.lease_until is not None:
            # Loaded with a lease, claimed because it expired: its holder may have died mid-send.
            # (Every attempt that ends normally clears the lease, so otherwise none is "sending".)
            DeliveryAttempt.objects.filter(delivery=delivery, outcome=SENDING).update(outcome=INTERRUPTED)
    return rows_insert(
        DeliveryAttempt,
        fields=ATTEMPT_BEGUN,
        rows=[
            (
                delivery.pk,
                delivery.attempts_total + 1,
                delivery.round_cause if delivery.attempts == 0 else DeliveryAttempt.Cause.RETRY,
                delivery.job_id,
                started,
                SENDING,
                "",
                "",
                "",
            )
            for delivery, started in claimed
        ],
        returning="id",
    )


def _first_parked(*, target_ids: set[int]) -> dict[int, int]:
    """Per target, its oldest parked delivery: parked deliveries drain in order, so a newer
    delivery to the same target waits behind them."""
    if not target_ids:
        return {}
    rows = (
        Delivery.objects.filter(target_id__in=target_ids, status=Delivery.Status.PAUSED)
        .values("target_id")
        .annotate(first=Min("id"))
    )
    return {row["target_id"]: row["first"] for row in rows}


def _release(delivery: Delivery, lease: datetime, **fields) -> None:
    Delivery.objects.filter(pk=delivery.pk, lease_until=lease).update(lease_until=None, **fields)


def _postpone(delivery: Delivery, lease: datetime, *, until: datetime | None) -> str:
    until = until or timezone.now() + timedelta(seconds=1)
    _release(delivery, lease, next_attempt_at=until, enqueued_at=until)
    _publish_later(delivery.pk, until)
    return "postponed"


@dataclass(frozen=True)
class _Answer:
    """What a target answered to one claimed delivery's attempt."""

    delivery: Delivery
    lease: datetime
    attempt_id: int
    outcome: Outcome


# The delivery columns an answer writes; those in DELIVERY_KEPT only for some results (None: kept).
DELIVERY_WRITTEN = (
    "attempts",
    "attempts_total",
    "last_status_code",
    "last_error",
    "error_class",
    "lease_until",
    "status",
    "delivered_at",
    "next_attempt_at",
    "enqueued_at",
    "dead_lettered_at",
    "dead_letter_reason",
)
DELIVERY_KEPT = ("delivered_at", "next_attempt_at", "enqueued_at", "dead_lettered_at", "dead_letter_reason")
# The columns an attempt is begun with (those without a database default included).
ATTEMPT_BEGUN = (
    "delivery",
    "number",
    "cause",
    "job",
    "started_at",
    "outcome",
    "error_class",
    "error",
    "response_excerpt",
)
ATTEMPT_WRITTEN = ("latency_ms", "status_code", "error_class", "error", "response_excerpt", "outcome")


def _records_write(answers: list[_Answer]) -> list[str]:
    """Record a group's answers in one transaction: the attempts, the deliveries (only while
    still under this worker's lease) and, for the deliveries this ends, their job items — one
    `UPDATE … FROM (VALUES …)` per table, not three ORM updates per delivery (the worker's
    CPU per delivery in the bulk-retry benchmark). Returns each delivery's result."""
    now = timezone.now()
    decided = [
        _decide(answer.delivery, answer.delivery.target, answer.outcome, now=now) for answer in answers
    ]
    if not answers:
        return []
    with transaction.atomic():
        rows_update(
            DeliveryAttempt,
            match=("id",),
            fields=ATTEMPT_WRITTEN,
            rows=[
                (
                    answer.attempt_id,
                    answer.outcome.latency_ms,
                    answer.outcome.status_code,
                    answer.outcome.error_class,
                    answer.outcome.error[:500],
                    answer.outcome.excerpt[:1000],
                    result,
                )
                for answer, (result, _) in zip(answers, decided, strict=True)
            ],
        )
        # A delivery whose lease lapsed may be another worker's by now: its row is left alone.
        ours = set(
            rows_update(
                Delivery,
                match=("id", "lease_until"),
                fields=DELIVERY_WRITTEN,
                keep_when_none=DELIVERY_KEPT,
                rows=[
                    (answer.delivery.pk, answer.lease, *(fields.get(name) for name in DELIVERY_WRITTEN))
                    for answer, (_, fields) in zip(answers, decided, strict=True)
                ],
                returning="id",
            )
        )
        ended = [
            (answer.delivery, result)
            for answer, (result, _) in zip(answers, decided, strict=True)
            if answer.delivery.pk in ours and result in ("delivered", "dead_lettered")
        ]
        # Matched by the (job, delivery) key, and "not finished" rather than `outcome=pending`:
        # the latter lets PostgreSQL walk the job's pending items by the outcome index.
        table = connection.ops.quote_name(ReplayItem._meta.db_table)
        finished = ", ".join(f"'{outcome}'" for outcome in FINISHED_ITEM_OUTCOMES)
        rows_update(
            ReplayItem,
            match=("job", "delivery"),
            fields=("outcome", "finished_at"),
            rows=[
                (
                    delivery.job_id,
                    delivery.pk,
                    ReplayItem.Outcome.DELIVERED if result == "delivered" else ReplayItem.Outcome.FAILED,
                    now,
                )
                for delivery, result in ended
                if delivery.job_id
            ],
            where=f"{table}.{connection.ops.quote_name('outcome')} NOT IN ({finished})",
        )
        # Heard after commit, once per delivery: the scope comes from the rows already loaded.
        for answer in answers:
            if answer.delivery.pk in ours:
                _announce_changed(answer.delivery)
        for delivery, result in ended:
            if result == "dead_lettered":
                _announce_changed(delivery, kind=Kind.DEAD_LETTERED)
            if delivery.job_id:
                announce(Kind.JOB_PROGRESS, delivery.job_id)
    for answer, (result, fields) in zip(answers, decided, strict=True):
        if result == "retrying":
            _publish_later(answer.delivery.pk, fields["next_attempt_at"])
    return [result for result, _ in decided]


def _decide(delivery: Delivery, target: Target, outcome: Outcome, *, now: datetime) -> tuple[str, dict]:
    """The delivery's result and the fields it writes, by the answer and the target's policy:
    delivered; retrying after the backoff; or dead-lettered with its reason (a refusal, or the
    policy gives up)."""
    attempts = delivery.attempts + 1
    fields: dict = {
        "attempts": attempts,
        "attempts_total": delivery.attempts_total + 1,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:500],
        "error_class": outcome.error_class,
        "lease_until": None,
    }
    if outcome.delivered:
        return "delivered", fields | {"status": Delivery.Status.DELIVERED, "delivered_at": now}
    reason = f"{outcome.error} — the target refused the message; not retried"
    delay = 0.0
    if outcome.retryable:
        delay = backoff_delay(
            attempt=attempts,
            base=target.backoff_seconds,
            cap=target.backoff_max_seconds,
            retry_after=outcome.retry_after,
        )
        reason = gives_up(
            attempts=attempts,
            max_attempts=target.max_attempts,
            round_started_at=delivery.round_started_at,
            now=now,
            max_age=timedelta(minutes=target.max_age_minutes),
            next_delay=delay,
        )
        if reason:
            reason = f"{outcome.error}; {reason}"
    if reason is None:
        due = now + timedelta(seconds=delay)
        return "retrying", fields | {
            "status": Delivery.Status.RETRYING,
            "next_attempt_at": due,
            "enqueued_at": due,
        }
    return "dead_lettered", fields | {
        "status": Delivery.Status.DEAD_LETTERED,
        "dead_lettered_at": now,
        "dead_letter_reason": reason[:500],
    }


def _announce_changed(delivery: Delivery, *, kind: Kind = Kind.DELIVERY_CHANGED) -> None:
    announce(kind, delivery.pk, plant_ids=delivery.plant_id, supplier_ids=delivery.supplier_id)


def _publish_later(delivery_id: int, due: datetime) -> None:
    """A countdown task for a near retry; a far one is the sweeper's (long ETAs sit in worker
    memory and outlive broker visibility timeouts)."""
    delay = (due - timezone.now()).total_seconds()
    if delay > COUNTDOWN_MAX:
        return
    from integrations.delivery.tasks import deliver

    # After the row says when it is due (at once outside a transaction).
    enqueue_after_commit(
        deliver,
        queue="delivery",
        options={"countdown": max(0.0, delay)},
        if_lost="the sweeper retries it when due",
        delivery_id=delivery_id,
    )
