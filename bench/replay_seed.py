"""The replay benchmark's database: created and migrated once per invocation, then reseeded
before every run with N dead-lettered deliveries of realistic events to a sandbox target.

Reference data goes through the services (`plant_upsert`, `system_upsert`, `user_upsert`,
`sandbox_receiver_upsert`); events go through the intake's own multi-row writer
(`insert_new_events`); deliveries and their attempt history are bulk-written in the state a
delivery ends in after `max_attempts` failed tries (dead-lettered, attempts logged).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

PLANT, SUPPLIER, SYSTEM = "P-BENCH", "S-BENCH", "ERP-BENCH"
RECEIVER, TARGET = "bench-erp", "bench-erp"
OPERATOR = "bench-operator"
TYPES = ("purchase_order.released", "supplier.confirmation", "shipment.dispatched", "goods.received")
# The failure history a seeded dead letter has behind it (the target's default policy: 6 tries).
FAILED_ATTEMPTS = 6
CHUNK = 2_000


def database_fresh(url: str) -> None:
    """Drop and create the benchmark database (refused unless its name says "bench")."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: a benchmark database's name contains 'bench'")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(env: dict[str, str]) -> None:
    """Configure this process like the children (same database, Redis, DEBUG off) and migrate."""
    import os

    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)  # the broker is the benchmark's Redis db, as for the workers
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@dataclass(frozen=True)
class Network:
    target_id: int
    receiver_id: int
    subscription_id: int
    system_id: int
    plant_id: int
    supplier_id: int
    user_id: int


def network_seed() -> Network:
    """Plant, supplier, source system, operator (all plants and suppliers), the sandbox receiver
    (no errors, no latency) and the target and subscription that deliver to it."""
    from controltower.accounts.roles import Role
    from controltower.accounts.services import user_upsert
    from controltower.masterdata.services import plant_upsert, supplier_upsert
    from integrations.delivery.models import Subscription, Target
    from integrations.sandbox.services import sandbox_receiver_upsert
    from integrations.services.network import system_upsert

    plant = plant_upsert(code=PLANT, name="Bench plant", time_zone="UTC")
    supplier = supplier_upsert(code=SUPPLIER, name="Bench supplier", time_zone="UTC")
    system = system_upsert(code=SYSTEM, name="Bench ERP", kind="erp")
    user = user_upsert(username=OPERATOR, roles=[Role.OPERATOR], sees_all_partners=True)
    receiver = sandbox_receiver_upsert(code=RECEIVER, name="Bench ERP receiver", error_rate=0.0, latency_ms=0)
    target = Target.objects.create(
        code=TARGET,
        name="Bench ERP (sandbox)",
        url="http://127.0.0.1:9/unset/",  # set to the receiver's address once it listens
        sandbox=True,
        timeout_seconds=10.0,
        max_attempts=FAILED_ATTEMPTS,
        backoff_seconds=5.0,
        backoff_max_seconds=900.0,
    )
    subscription = Subscription.objects.create(
        name="Bench flows to the ERP", target=target, event_types=list(TYPES)
    )
    return Network(
        target_id=target.pk,
        receiver_id=receiver.pk,
        subscription_id=subscription.pk,
        system_id=system.pk,
        plant_id=plant.pk,
        supplier_id=supplier.pk,
        user_id=user.pk,
    )


def target_point_at(network: Network, url: str) -> None:
    from integrations.delivery.models import Target

    Target.objects.filter(pk=network.target_id).update(url=url)


# --- events ------------------------------------------------------------------------------------
def _templates() -> dict[str, tuple[int, dict]]:
    from integrations.contracts import contract_get

    return {t: (contract_get(t).version, contract_get(t).example) for t in TYPES}


def event_data(kind: str, example: dict, n: int) -> dict:
    """The contract's example with this flow's own identifiers, plant and supplier."""
    data = json.loads(json.dumps(example))
    po = f"45{n:08d}"
    data.update(plant=PLANT, supplier=SUPPLIER)
    if "po_number" in data:
        data["po_number"] = po
    if "purchase_orders" in data:
        data["purchase_orders"] = [po]
    for line in data.get("lines", []):
        if "po_number" in line:
            line["po_number"] = po
    if kind == "supplier.confirmation":
        data["confirmation_id"] = f"AB-{n:08d}"
    if kind == "shipment.dispatched":
        data.update(shipment_id=f"ASN-{n:08d}", tracking_number=f"JJD{n:015d}")
    if kind == "goods.received":
        data.update(receipt_id=f"GR-{n:08d}", shipment_id=f"ASN-{n:08d}")
    return data


def _event_rows(count: int, network: Network, *, now: datetime, rng: random.Random) -> list[dict]:
    templates = _templates()
    rows = []
    for n in range(count):
        kind = TYPES[n % len(TYPES)]
        version, example = templates[kind]
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        time = now - timedelta(hours=6, seconds=count - n)
        attributes = {
            "specversion": "1.0",
            "id": event_id,
            "source": SYSTEM,
            "type": kind,
            "datacontenttype": "application/json",
            "time": time.isoformat().replace("+00:00", "Z"),
        }
        rows.append(
            {
                "system": network.system_id,
                "source": SYSTEM,
                "event_id": event_id,
                "type": kind,
                "version": version,
                "subject": "",
                "event_time": time,
                "received_at": time + timedelta(seconds=1),
                "mode": "batch",
                "attributes": attributes,
                "data": event_data(kind, example, n // len(TYPES)),
                "plant": network.plant_id,
                "supplier": network.supplier_id,
            }
        )
    return rows


def data_check() -> None:
    """Every seeded type's data passes its real contract (so the bodies are realistic)."""
    from integrations.contracts import contract_get, validate_data

    for kind, (_, example) in _templates().items():
        errors = validate_data(contract_get(kind), event_data(kind, example, 1))
        if errors:
            raise SystemExit(f"seeded {kind} data fails its contract: {errors}")


# --- deliveries --------------------------------------------------------------------------------
DYNAMIC_TABLES = (
    "delivery_deliveryattempt",
    "delivery_replayitem",
    "delivery_replayjob",
    "delivery_delivery",
    "integrations_eventidentifier",
    "integrations_event",
    "sandbox_sandboxreceipt",
)


def run_seed(count: int, network: Network, *, seed: int) -> list[int]:
    """Empty the event, delivery, job and receipt tables, then write `count` events and their
    dead-lettered deliveries with a full failed-attempt history; returns the delivery ids."""
    from django.db import connection

    from integrations.delivery.models import Delivery, idempotency_key
    from integrations.services.event_rows import insert_new_events

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(DYNAMIC_TABLES)} RESTART IDENTITY CASCADE")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = _event_rows(count, network, now=now, rng=rng)
    ids: dict[tuple[str, str], int] = {}
    for start in range(0, len(rows), CHUNK):
        ids |= insert_new_events(rows[start : start + CHUNK])
    backoff = [5 * 2**i for i in range(FAILED_ATTEMPTS)]
    deliveries = []
    for row in rows:
        created = row["received_at"]
        dead = created + timedelta(seconds=sum(backoff[:-1]) + 1)
        deliveries.append(
            Delivery(
                event_id=ids[(SYSTEM, row["event_id"])],
                target_id=network.target_id,
                subscription_id=network.subscription_id,
                mapping="cloudevent",
                idempotency_key=idempotency_key(target_code=TARGET, source=SYSTEM, event_id=row["event_id"]),
                status=Delivery.Status.DEAD_LETTERED,
                type=row["type"],
                plant_id=network.plant_id,
                supplier_id=network.supplier_id,
                created_at=created,
                attempts=FAILED_ATTEMPTS,
                attempts_total=FAILED_ATTEMPTS,
                round_cause="first",
                round_started_at=created,
                next_attempt_at=dead,
                enqueued_at=dead,
                last_status_code=503,
                last_error="HTTP 503 Service Unavailable",
                error_class="http_5xx",
                dead_lettered_at=dead,
                dead_letter_reason=f"HTTP 503 Service Unavailable; gave up after {FAILED_ATTEMPTS} attempts",
            )
        )
    Delivery.objects.bulk_create(deliveries, batch_size=CHUNK)
    delivery_ids = list(Delivery.objects.order_by("id").values_list("id", flat=True))
    _attempt_history(delivery_ids, [d.created_at for d in deliveries], backoff)
    with connection.cursor() as cursor:
        for table in DYNAMIC_TABLES:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    return delivery_ids


def _attempt_history(delivery_ids: list[int], created: list[datetime], backoff: list[int]) -> None:
    """FAILED_ATTEMPTS logged 503s per delivery, the last one dead-lettering it (COPY)."""
    from django.db import connection

    excerpt = json.dumps({"type": "about:blank", "title": "Service Unavailable", "status": 503})
    columns = "delivery_id, number, cause, job_id, started_at, latency_ms, status_code, error_class, error, response_excerpt, outcome"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY delivery_deliveryattempt ({columns}) FROM STDIN") as copy:
            for pk, start in zip(delivery_ids, created, strict=True):
                at = start
                for number in range(1, FAILED_ATTEMPTS + 1):
                    last = number == FAILED_ATTEMPTS
                    copy.write_row(
                        (
                            pk,
                            number,
                            "first" if number == 1 else "retry",
                            None,
                            at,
                            12,
                            503,
                            "http_5xx",
                            "HTTP 503 Service Unavailable",
                            excerpt,
                            "dead_lettered" if last else "retrying",
                        )
                    )
                    at += timedelta(seconds=backoff[number - 1])


# --- what a plain client would send --------------------------------------------------------------
def baseline_requests(network: Network, *, key_prefix: str = "baseline-") -> list[tuple[bytes, dict]]:
    """Per delivery, the body and headers `transport.delivery_post` would send (same bytes,
    content type, auth headers, User-Agent), under a distinct Idempotency-Key so the receiver
    records them as new receipts."""
    from integrations.delivery.models import Delivery, Target
    from integrations.delivery.services.transport import USER_AGENT, request_body, request_headers

    target = Target.objects.get(pk=network.target_id)
    requests = []
    for delivery in (
        Delivery.objects.filter(target=target).select_related("event").order_by("id").iterator(2000)
    ):
        body, content_type = request_body(delivery)
        headers = request_headers(target, delivery=delivery, body=body, content_type=content_type)
        headers["Idempotency-Key"] = key_prefix + headers["Idempotency-Key"]
        headers["User-Agent"] = USER_AGENT
        requests.append((body, headers))
    return requests


# --- between phases -------------------------------------------------------------------------------
def redis_flush(url: str) -> None:
    """Empty the benchmark's Redis db (broker queues, cache): nothing left from a previous phase."""
    import redis

    redis.Redis.from_url(url).flushdb()


def receipts_clear(network: Network) -> None:
    """Forget what the receiver received (through the service), and vacuum the table so the
    next phase inserts into the same state."""
    from django.db import connection

    from integrations.sandbox.models import SandboxReceiver
    from integrations.sandbox.services import sandbox_receipts_clear

    sandbox_receipts_clear(receiver=SandboxReceiver.objects.get(pk=network.receiver_id))
    with connection.cursor() as cursor:
        cursor.execute('VACUUM (ANALYZE) "sandbox_sandboxreceipt"')
