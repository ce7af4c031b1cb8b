"""Builders for trace tests: contract-example events for the test network, stored through the
real intake, and a readable picture of the traces they formed."""

from __future__ import annotations

import copy
import itertools

import pytest

from controltower.traces.models import IdentifierRule, Trace, TraceEvent
from controltower.traces.services import correlate_events
from integrations.adapters.cloudevents import parse_structured
from integrations.contracts import contract_get
from integrations.models import Event, SourceSystem
from integrations.services.intake import ACCEPTED, DUPLICATE, Candidate, RequestRecord, events_ingest
from integrations.services.network import system_upsert

_ids = itertools.count(1)
# The contract examples' partner codes, mapped onto the test network.
_CODES = {"SUP-20417": "S-ACME", "DE10": "P-NORTH"}
PO_A, PO_B = "4500012345", "4500012391"
PO_SOUTH = "4500099999"


def _recode(value):
    if isinstance(value, dict):
        return {k: _recode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_recode(v) for v in value]
    return _CODES.get(value, value) if isinstance(value, str) else value


def example(type_: str, **changes) -> dict:
    """The contract's example data for `type_`, with test-network codes and `changes` applied."""
    data = _recode(copy.deepcopy(contract_get(type_).example))
    data.update(changes)
    return data


def cloudevent(
    type_: str, data: dict, *, source: str, time: str = "2026-11-27T08:15:00Z", id: str = ""
) -> dict:
    return {
        "specversion": "1.0",
        "id": id or f"trace-evt-{next(_ids)}",
        "source": source,
        "type": type_,
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    }


def ingest(system: SourceSystem, *events: dict) -> list[int]:
    """Store `events` for `system` through the real intake; their event ids (all must be stored)."""
    candidates = []
    for index, raw in enumerate(events):
        parsed = parse_structured(raw, prefix=f"/{index}")
        candidates.append(
            Candidate(raw=raw, event=parsed.event, errors=parsed.errors, index=index, prefix=f"/{index}")
        )
    record = RequestRecord(
        endpoint="/api/v1/events", content_type="application/cloudevents-batch+json", headers={}, body=b""
    )
    outcomes = events_ingest(system=system, candidates=candidates, mode=Event.Mode.BATCH, request=record)
    assert all(o.status in (ACCEPTED, DUPLICATE) for o in outcomes), [o.as_dict() for o in outcomes]
    return [o.event_pk for o in outcomes]


def picture() -> dict[str, set[str]]:
    """{"<flow>:<root key>": {CloudEvent ids of its events}} — compares across arrival orders."""
    found: dict[str, set[str]] = {}
    for trace in Trace.objects.select_related("root"):
        found[f"{trace.flow}:{trace.root.key}"] = set(
            TraceEvent.objects.filter(trace=trace).values_list("event__event_id", flat=True)
        )
    return found


@pytest.fixture
def systems(network) -> dict[str, SourceSystem]:
    """The test network's systems plus a carrier TMS (sends milestones; no plant or supplier)."""
    return {
        "erp": network["erp"].system,
        "portal": network["acme"].system,
        "mes": network["mes_north"].system,
        "tms": system_upsert(code="TMS-CARRIER", name="Carrier TMS", kind=SourceSystem.Kind.TMS),
    }


@pytest.fixture
def traces(systems):
    """PO A (P-NORTH, with a portal confirmation spelled "PO-…" and an ASN) and a P-SOUTH PO."""
    IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    erp = ingest(
        systems["erp"],
        cloudevent("purchase_order.released", example("purchase_order.released"), source="ERP-CLOUD"),
        cloudevent(
            "purchase_order.released",
            example("purchase_order.released", po_number=PO_SOUTH, plant="P-SOUTH", supplier="S-BOLT"),
            source="ERP-CLOUD",
        ),
    )
    portal = ingest(
        systems["portal"],
        cloudevent(
            "supplier.confirmation",
            example("supplier.confirmation", po_number=f"PO-{PO_A}"),
            source="PORTAL-ACME",
            time="2026-11-27T07:00:00Z",  # stamped earlier than the release: clocks differ
        ),
        cloudevent(
            "shipment.dispatched",
            example(
                "shipment.dispatched",
                purchase_orders=[PO_A],
                lines=example("shipment.dispatched")["lines"][:2],
            ),
            source="PORTAL-ACME",
            time="2026-11-28T10:00:00Z",
        ),
    )
    correlate_events(event_ids=erp + portal)
    return {t.root.key: t for t in Trace.objects.select_related("root")}
