"""What the business rules add to the rules task per event (issue #11: opening a case from an
event adds at most 2 ms per event).

Usage (a fresh, migrated database; no worker runs, so only the timed calls evaluate rules):
    DATABASE_URL=postgresql://…/ct_bench REDIS_URL=redis://…/N ALLOWED_HOSTS=testserver DEBUG=1 \\
        .venv/bin/python bench/rules_per_event.py --orders 400 --batch 50

It posts `--orders` POs and as many ASNs (each, or a `--short-share` of them, 4 % short of its
PO line, outside the 2 % tolerance) through intake, then times `rules_follow` on the ASN ids in batches of `--batch`
(the size of one intake request), three ways, in the same run:
- baseline: the same number of events the rules do not read (middleware telemetry);
- opening: the ASNs the first time: every short one opens a quantity-mismatch case;
- re-evaluation: the same ASNs again: every rule runs, every finding is already counted.
"opening − re-evaluation" is what opening a case costs per event; "re-evaluation − baseline" is
what evaluating the rules costs per event.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402

from exceptions.models import Case  # noqa: E402
from exceptions.rules import rules_follow  # noqa: E402
from integrations.models import Event, SourceSystem  # noqa: E402
from integrations.services.network import network_load  # noqa: E402
from integrations.services.tokens import system_token_create  # noqa: E402
from integrations.simulator.network import demo_network  # noqa: E402


def _event(n: int, source: str, type_: str, data: dict) -> dict:
    return {
        "specversion": "1.0",
        "id": f"bench-{type_}-{n}",
        "source": source,
        "type": type_,
        "time": "2030-01-01T08:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
    }


def _post(client: Client, token: str, events: list[dict]) -> None:
    for start in range(0, len(events), 100):
        response = client.post(
            "/api/v1/events",
            json.dumps(events[start : start + 100]),
            content_type="application/cloudevents-batch+json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code < 300, response.content[:500]


def _timed(ids: list[int], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        rules_follow(event_ids=ids[start : start + batch])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument(
        "--short-share", type=float, default=1.0, help="Share of ASNs that are short (open a case); 1 = all."
    )
    options = parser.parse_args()
    n, batch = options.orders, options.batch
    network_load(document=demo_network())
    tokens = {s.code: system_token_create(system=s)[1] for s in SourceSystem.objects.all()}
    client = Client()
    pos, asns, telemetry = [], [], []
    short_every = max(1, round(1 / options.short_share)) if options.short_share > 0 else n + 1
    for i in range(n):
        po = f"47{i:08d}"
        shipped = 480 if i % short_every == 0 else 500
        line = {
            "line": 10,
            "material": "RM-100271",
            "quantity": 500,
            "unit": "EA",
            "requested_date": "2030-03-21",
        }
        pos.append(
            _event(i, "ERP-CLOUD", "purchase_order.released",
                   {"po_number": po, "supplier": "SUP-BOSCHMANN", "plant": "DE-STR",
                    "released_at": "2030-01-01T08:00:00Z", "lines": [line]})
        )  # fmt: skip
        asns.append(
            _event(i, "SUPPLIER-PORTAL", "shipment.dispatched",
                   {"shipment_id": f"ASN-B{i:07d}", "supplier": "SUP-BOSCHMANN", "plant": "DE-STR",
                    "dispatched_at": "2030-01-02T08:00:00Z", "estimated_arrival": "2030-01-03T08:00:00Z",
                    "lines": [{"line": 1, "po_number": po, "po_line": 10, "material": "RM-100271",
                               "quantity": shipped, "unit": "EA"}]})
        )  # fmt: skip
        telemetry.append(
            _event(i, "MIDDLEWARE", "integration.telemetry",
                   {"message_id": f"m-{i}", "hop": "bench", "status": "delivered",
                    "occurred_at": "2030-01-02T08:00:00Z", "po_number": po})
        )  # fmt: skip
    _post(client, tokens["ERP-CLOUD"], pos)
    _post(client, tokens["SUPPLIER-PORTAL"], asns)
    _post(client, tokens["MIDDLEWARE"], telemetry)
    asn_ids = list(
        Event.objects.filter(type="shipment.dispatched", event_id__startswith="bench-").values_list(
            "pk", flat=True
        )
    )
    noise_ids = list(
        Event.objects.filter(type="integration.telemetry", event_id__startswith="bench-").values_list(
            "pk", flat=True
        )
    )
    assert len(asn_ids) == len(noise_ids) == n
    before = Case.objects.count()
    baseline = _timed(noise_ids, batch)
    opening = _timed(asn_ids, batch)
    opened = Case.objects.count() - before
    again = _timed(asn_ids, batch)
    started = time.perf_counter()
    with django.db.connection.cursor() as cursor:
        for _ in range(200):
            cursor.execute("SELECT 1")
    round_trip = (time.perf_counter() - started) / 200 * 1000
    ms = lambda seconds: seconds / n * 1000  # noqa: E731
    vendor = django.db.connection.vendor
    print(f"{n} events, batches of {batch}, {vendor}; cases opened: {opened}")
    print(f"baseline (events no rule reads): {ms(baseline):.3f} ms/event")
    print(f"opening (each event opens a case): {ms(opening):.3f} ms/event")
    print(f"re-evaluation (rules run, nothing new): {ms(again):.3f} ms/event")
    print(f"one database round trip (SELECT 1) here: {round_trip:.3f} ms")
    print(f"=> opening a case adds {ms(opening - again):.3f} ms/event; evaluating the rules adds "
          f"{ms(again - baseline):.3f} ms/event; opening = {ms(opening - again) / round_trip:.1f} round trips")  # fmt: skip


if __name__ == "__main__":
    main()
