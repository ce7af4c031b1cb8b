"""Event intake: from parsed CloudEvents to stored events, exactly once, losing nothing.

`events_ingest` is the one path every adapter (CloudEvents structured/binary/batch, EPCIS
capture) uses. It guarantees, in ONE transaction:
- each valid event is stored once per (source, id) with its business identifiers — a repeat,
  in the same batch, in an earlier request or in a concurrent one, is answered `duplicate`;
- each invalid event is kept as a `RejectedMessage` with its raw body and the errors answered;
- a system only posts events whose `source` is registered to it, about its own plant/supplier;
- each newly stored event gets its outbox rows (`Delivery`, one per subscribed target), so a
  delivery exists exactly when its event does, whatever happens to the broker afterwards.
The hot path is batched: one multi-row `INSERT … ON CONFLICT DO NOTHING` for events and one
for identifiers; only events that turn out to be stored already cost one more query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controltower.masterdata.models import Plant, Supplier
from controltower.masterdata.selectors import partner_ids
from integrations.adapters.cloudevents import CloudEvent, intake_errors
from integrations.contracts import (
    FieldError,
    contract_get,
    contract_types,
    extract_identifiers,
    validate_data,
    version_from_dataschema,
)
from integrations.delivery.services.routing import RoutedEvent, deliveries_route
from integrations.models import Event, SourceSystem
from integrations.services.event_rows import insert_identifiers, insert_new_events
from integrations.services.rejections import rejected_message_record
from integrations.signals import events_accepted

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


@dataclass
class Candidate:
    """One event offered for intake: parsed (`event`) or not (`errors`), and what was received."""

    raw: Any
    event: CloudEvent | None
    errors: list[FieldError] = field(default_factory=list)
    index: int | None = None  # position in a batch or document; None for a single event
    prefix: str = ""  # JSON pointer prefix of this event in the request body


@dataclass(frozen=True)
class RequestRecord:
    """What the request looked like, for rejected messages."""

    endpoint: str
    content_type: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Outcome:
    index: int | None
    status: str
    source: str = ""
    id: str = ""
    event_pk: int | None = None
    errors: list[FieldError] = field(default_factory=list)
    rejected_pk: int | None = None
    forbidden: bool = False

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "source": self.source, "id": self.id}
        if self.index is not None:
            body["index"] = self.index
        if self.event_pk is not None:
            body["event"] = self.event_pk
        if self.errors:
            body["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in self.errors]
        if self.rejected_pk is not None:
            body["rejected_message"] = self.rejected_pk
        return body


@dataclass
class _Checked:
    candidate: Candidate
    outcome: Outcome
    version: int = 0
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    plant_id: int | None = None
    supplier_id: int | None = None


def events_ingest(
    *, system: SourceSystem, candidates: Sequence[Candidate], mode: str, request: RequestRecord
) -> list[Outcome]:
    """Validate, deduplicate and store `candidates` for `system`; one outcome per candidate."""
    sources = system.source_values()
    partners = _partner_ids(candidates)
    checked = [_check(c, system=system, sources=sources, partners=partners) for c in candidates]
    with transaction.atomic():
        first = _mark_repeats([c for c in checked if c.outcome.status != REJECTED])
        _insert(first, system=system, mode=mode)
        for item in checked:  # in-request repeats point at whatever their first copy became
            if item.outcome.status == DUPLICATE and item.outcome.event_pk is None:
                item.outcome.event_pk = first[(item.outcome.source, item.outcome.id)].outcome.event_pk
        for item in checked:
            if item.outcome.status == REJECTED:
                _record_rejection(item, system=system, request=request, single=len(candidates) == 1)
        accepted = [c.outcome.event_pk for c in checked if c.outcome.status == ACCEPTED]
        deliveries_route(events=[_routed(c) for c in checked if c.outcome.status == ACCEPTED])
        if accepted:
            transaction.on_commit(lambda: events_accepted.send(sender=Event, event_ids=accepted))
    return [item.outcome for item in checked]


def _routed(item: _Checked) -> RoutedEvent:
    event = item.candidate.event
    return RoutedEvent(
        pk=item.outcome.event_pk,
        source=event.source,
        event_id=event.id,
        type=event.type,
        plant_id=item.plant_id,
        supplier_id=item.supplier_id,
    )


def _partner_ids(candidates: Sequence[Candidate]) -> dict[str, dict[str, int]]:
    """Plant and supplier ids for every code the candidates name (cached; see `partner_ids`)."""
    plants, suppliers = set(), set()
    for c in candidates:
        data = c.event.data if c.event is not None else None
        if isinstance(data, dict):
            if isinstance(data.get("plant"), str):
                plants.add(data["plant"])
            if isinstance(data.get("supplier"), str):
                suppliers.add(data["supplier"])
    return {"plant": partner_ids(Plant, plants), "supplier": partner_ids(Supplier, suppliers)}


def _check(
    candidate: Candidate, *, system: SourceSystem, sources: set[str], partners: dict[str, dict[str, int]]
) -> _Checked:
    event = candidate.event
    outcome = Outcome(index=candidate.index, status=REJECTED, errors=list(candidate.errors))
    item = _Checked(candidate, outcome)
    if event is None:
        if isinstance(candidate.raw, dict):
            outcome.source, outcome.id = (
                str(candidate.raw.get("source", "")),
                str(candidate.raw.get("id", "")),
            )
        return item
    outcome.source, outcome.id = event.source, event.id
    prefix = candidate.prefix
    if event.source not in sources:
        outcome.forbidden = True
        outcome.errors = [
            FieldError(f"{prefix}/source", f"{event.source!r} is not a source of system {system.code}")
        ]
        return item
    errors = intake_errors(event, prefix=prefix, require_time=settings.INTAKE_REQUIRE_TIME)
    contract = None
    version = version_from_dataschema(event.dataschema) if event.dataschema else None
    if event.dataschema and version is None:
        errors.append(
            FieldError(f"{prefix}/dataschema", "names no contract version (expected …/<type>/v<N>)")
        )
    elif contract_get(event.type) is None:
        known = ", ".join(contract_types())
        errors.append(
            FieldError(f"{prefix}/type", f"unknown event type {event.type!r}; known types: {known}")
        )
    else:
        contract = contract_get(event.type, version)
        if contract is None:
            errors.append(FieldError(f"{prefix}/dataschema", f"{event.type} has no version {version}"))
    if contract is not None and not errors:
        errors.extend(_prefixed(validate_data(contract, event.data), prefix))
    if not errors:
        errors.extend(_resolve_partners(item, system=system, partners=partners))
    if errors:
        outcome.errors = errors
        return item
    item.version = contract.version
    item.identifiers = extract_identifiers(contract, event.data)
    outcome.status = ACCEPTED
    outcome.errors = []
    return item


def _prefixed(errors: list[FieldError], prefix: str) -> list[FieldError]:
    return [FieldError(prefix + e.pointer, e.detail) for e in errors] if prefix else errors


def _resolve_partners(
    item: _Checked, *, system: SourceSystem, partners: dict[str, dict[str, int]]
) -> list[FieldError]:
    """The event's plant and supplier: named in data, else the system's; and only its own."""
    data, prefix, errors = item.candidate.event.data, item.candidate.prefix, []
    for kind, own_id in (("plant", system.plant_id), ("supplier", system.supplier_id)):
        code = data.get(kind) if isinstance(data, dict) else None
        if not code:
            setattr(item, f"{kind}_id", own_id)
            continue
        found = partners[kind].get(code)
        if found is None:
            errors.append(FieldError(f"{prefix}/data/{kind}", f"{code!r} is not a registered {kind}"))
        elif own_id is not None and found != own_id:
            item.outcome.forbidden = True
            errors.append(
                FieldError(f"{prefix}/data/{kind}", f"system {system.code} may only post for its own {kind}")
            )
        else:
            setattr(item, f"{kind}_id", found)
    return errors


def _mark_repeats(items: list[_Checked]) -> dict[tuple[str, str], _Checked]:
    """Later copies of an event within this request become `duplicate`; returns the firsts."""
    first: dict[tuple[str, str], _Checked] = {}
    for item in items:
        key = (item.outcome.source, item.outcome.id)
        if key in first:
            item.outcome.status = DUPLICATE
        else:
            first[key] = item
    return first


def _row(item: _Checked, *, system: SourceSystem, mode: str, now) -> dict[str, Any]:
    event = item.candidate.event
    attributes = event.as_structured()
    attributes.pop("data", None)
    return {
        "system": system.pk,
        "source": event.source,
        "event_id": event.id,
        "type": event.type,
        "version": item.version,
        "subject": event.subject or "",
        "event_time": event.time,
        "received_at": now,
        "mode": mode,
        "attributes": attributes,
        "data": event.data,
        "plant": item.plant_id,
        "supplier": item.supplier_id,
    }


def _insert(first: dict[tuple[str, str], _Checked], *, system: SourceSystem, mode: str) -> None:
    """Store the first copy of each event with its identifiers. Events already stored — before,
    or by a concurrent request — become `duplicate` pointing at the stored event."""
    if not first:
        return
    now = timezone.now()
    inserted = insert_new_events([_row(item, system=system, mode=mode, now=now) for item in first.values()])
    identifiers = []
    for key, item in first.items():
        pk = inserted.get(key)
        if pk is None:
            item.outcome.status = DUPLICATE
        else:
            item.outcome.event_pk = pk
            identifiers.extend((pk, kind, value[:255]) for kind, value in item.identifiers)
    insert_identifiers(identifiers)
    stored = [key for key in first if key not in inserted]
    if stored:
        found = Event.objects.filter(
            source__in={source for source, _ in stored}, event_id__in={event_id for _, event_id in stored}
        ).values_list("source", "event_id", "id")
        for source, event_id, pk in found:
            if (source, event_id) in first:
                first[(source, event_id)].outcome.event_pk = pk


def _record_rejection(item: _Checked, *, system: SourceSystem, request: RequestRecord, single: bool) -> None:
    candidate, outcome = item.candidate, item.outcome
    if single:
        body = request.body
    else:
        body = json.dumps(candidate.raw, ensure_ascii=False).encode()
    raw_type = candidate.raw.get("type", "") if isinstance(candidate.raw, dict) else ""
    rejected = rejected_message_record(
        system=system,
        endpoint=request.endpoint,
        content_type=request.content_type,
        headers=request.headers,
        body=body,
        status_code=403 if outcome.forbidden else 400,
        problem_type="forbidden" if outcome.forbidden else "validation-error",
        errors=outcome.errors,
        batch_index=None if single else candidate.index,
        source=outcome.source,
        event_id=outcome.id,
        type=candidate.event.type if candidate.event is not None else str(raw_type),
        plant_id=item.plant_id,
        supplier_id=item.supplier_id,
    )
    outcome.rejected_pk = rejected.pk
