"""Event intake: from parsed CloudEvents to stored events, exactly once, losing nothing.

`events_ingest` is the one path every adapter (CloudEvents structured/binary/batch, EPCIS
capture) uses. It guarantees, in ONE transaction:
- each valid event is stored once per (source, id) with its business identifiers — a repeat,
  in the same batch, in an earlier request or in a concurrent one, is answered `duplicate`;
- each invalid event is kept as a `RejectedMessage` with its raw body and the errors answered:
  all of them at once (envelope, storability and data), and any text or value PostgreSQL cannot
  hold (NUL, lone surrogates, NaN) refuses that one event by pointer instead of failing the rest;
- each stored event has a business time: its CloudEvents `time`, else its contract's own time
  field (`x-business-time`), else our receipt time, marked in `Event.time_basis`;
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
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from controltower.changes import Kind, announce
from controltower.json_values import (
    TOO_DEEP_DETAIL,
    array_element_spans,
    error_dicts,
    json_encode_checked,
    printable,
    printable_json,
    text_problem,
    unsafe_values,
)
from controltower.masterdata.models import Plant, Supplier
from controltower.masterdata.selectors import partner_ids
from integrations.adapters.cloudevents import CloudEvent, intake_errors, parse_rfc3339
from integrations.contracts import (
    Contract,
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
            body["errors"] = error_dicts(self.errors)
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
    time: datetime | None = None  # None: the receipt time, set when stored
    time_basis: str = Event.TimeBasis.RECEIPT
    data_json: str | None = None  # the data as stored, written once while checking it


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
        rejected = [item for item in checked if item.outcome.status == REJECTED]
        single = len(candidates) == 1
        elements = (
            _batch_elements(request, count=len(candidates)) if rejected and mode == Event.Mode.BATCH else None
        )
        for item in rejected:
            _record_rejection(item, system=system, request=request, single=single, elements=elements)
        accepted = [c.outcome.event_pk for c in checked if c.outcome.status == ACCEPTED]
        deliveries_route(events=[_routed(c) for c in checked if c.outcome.status == ACCEPTED])
        if accepted:
            transaction.on_commit(lambda: events_accepted.send(sender=Event, event_ids=accepted))
        _announce(checked, system=system)
    return [item.outcome for item in checked]


def _announce(checked: list[_Checked], *, system: SourceSystem) -> None:
    """Tell live pages what this request changed, from what is in memory (no query: this is the
    hot path). The sending system's activity changed whenever something was stored or refused;
    its refusals announce themselves (`rejected_message_record`)."""
    stored = False
    for item in checked:
        if item.outcome.status == ACCEPTED:
            stored = True
            announce(
                Kind.EVENT_ACCEPTED,
                item.outcome.event_pk,
                plant_ids=item.plant_id,
                supplier_ids=item.supplier_id,
            )
    if stored:
        announce(Kind.SYSTEM_CHANGED, system.pk, plant_ids=system.plant_id, supplier_ids=system.supplier_id)


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
        if isinstance(data, dict):  # a code PostgreSQL cannot take as a parameter is refused later
            if isinstance(data.get("plant"), str) and text_problem(data["plant"]) is None:
                plants.add(data["plant"])
            if isinstance(data.get("supplier"), str) and text_problem(data["supplier"]) is None:
                suppliers.add(data["supplier"])
    return {"plant": partner_ids(Plant, plants), "supplier": partner_ids(Supplier, suppliers)}


def _check(
    candidate: Candidate, *, system: SourceSystem, sources: set[str], partners: dict[str, dict[str, int]]
) -> _Checked:
    """Every error of one candidate at once: its envelope's, then its data's, then scope."""
    event, prefix = candidate.event, candidate.prefix
    outcome = Outcome(index=candidate.index, status=REJECTED, errors=list(candidate.errors))
    item = _Checked(candidate, outcome)
    raw = candidate.raw if isinstance(candidate.raw, dict) else {}
    if event is None:
        outcome.source, outcome.id = printable(str(raw.get("source", ""))), printable(str(raw.get("id", "")))
        # A refused envelope still gets its data checked, so one answer lists everything. Only a
        # CloudEvent (which names its specversion) is read so; an EPCIS event refused in mapping
        # carries its own errors.
        if "specversion" in raw:
            outcome.errors = _sorted([*outcome.errors, *_content_errors(raw, prefix)[1]])
        return item
    outcome.source, outcome.id = event.source, event.id
    if event.source not in sources:
        outcome.forbidden = True
        outcome.errors = [
            FieldError(f"{prefix}/source", f"{event.source!r} is not a source of system {system.code}")
        ]
        return item
    contract, errors, item.data_json = _content_errors(event.as_structured() if not raw else raw, prefix)
    if not errors:
        errors.extend(_resolve_partners(item, system=system, partners=partners))
    if errors:
        outcome.errors = _sorted(errors)
        return item
    item.version = contract.version
    item.identifiers = extract_identifiers(contract, event.data)
    item.time, item.time_basis = business_time_of(event, contract)
    outcome.status = ACCEPTED
    outcome.errors = []
    return item


def _content_errors(
    raw: Mapping[str, Any], prefix: str
) -> tuple[Contract | None, list[FieldError], str | None]:
    """The contract `raw` names, every problem of what it carries (what intake needs beyond the
    spec, values that cannot be stored, the data checked against the contract), and the data as
    the JSON text to store (written here, once, because reading it spares walking the data)."""
    errors = intake_errors(raw, prefix=prefix)
    type_, dataschema = raw.get("type"), raw.get("dataschema")
    contract = None
    version = version_from_dataschema(dataschema) if isinstance(dataschema, str) and dataschema else None
    if isinstance(dataschema, str) and dataschema and version is None:
        errors.append(
            FieldError(f"{prefix}/dataschema", "names no contract version (expected …/<type>/v<N>)")
        )
    elif not isinstance(type_, str) or not type_:
        pass  # the envelope's own error says so
    elif contract_get(type_) is None:
        known = ", ".join(contract_types())
        errors.append(
            FieldError(f"{prefix}/type", f"unknown event type {printable(type_)!r}; known types: {known}")
        )
    else:
        contract = contract_get(type_, version)
        if contract is None:
            errors.append(FieldError(f"{prefix}/dataschema", f"{type_} has no version {version}"))
    if "data" not in raw or "data_base64" in raw:
        return contract, errors, None
    data_json, checks = json_encode_checked(raw["data"], depth=2)
    unsafe = unsafe_values(raw["data"], pointer=f"{prefix}/data", depth=2, checks=checks)
    errors.extend(unsafe)
    if contract is not None and not any(e.pointer.endswith("/data_base64") for e in errors):
        if not _too_deep(unsafe):  # the schema walk would recurse as deep as the data does
            errors.extend(_prefixed(validate_data(contract, raw["data"]), prefix))
    return contract, errors, data_json


def _too_deep(errors: list[FieldError]) -> bool:
    return any(e.detail == TOO_DEEP_DETAIL for e in errors)


def _sorted(errors: list[FieldError]) -> list[FieldError]:
    """Each error once, by pointer (the order a reader scans an event)."""
    return sorted(dict.fromkeys(errors), key=lambda e: e.pointer)


def business_time_of(event: CloudEvent, contract: Contract) -> tuple[datetime | None, str]:
    """The event's business time and where it came from (None: the receipt time).

    CloudEvents 1.0 makes `time` optional; without it the contract's own time field
    (`x-business-time`) says when it happened, and without that only our receipt does."""
    if event.time is not None:
        return event.time, Event.TimeBasis.EVENT
    pointer = contract.business_time
    value = event.data.get(pointer[1:]) if pointer and isinstance(event.data, dict) else None
    found = parse_rfc3339(value)
    if found is not None:
        return found, Event.TimeBasis.DATA
    return None, Event.TimeBasis.RECEIPT


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
        "event_time": item.time or now,
        "time_basis": item.time_basis,
        "received_at": now,
        "mode": mode,
        "attributes": attributes,
        "data": event.data,
        "data_json": item.data_json,
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


def _record_rejection(
    item: _Checked,
    *,
    system: SourceSystem,
    request: RequestRecord,
    single: bool,
    elements: list[bytes] | None,
) -> None:
    candidate, outcome = item.candidate, item.outcome
    if single:
        body = request.body
    elif elements is not None and candidate.index is not None:
        body = elements[candidate.index]
    else:
        body = _element_bytes(candidate.raw)
    raw_type = candidate.raw.get("type", "") if isinstance(candidate.raw, dict) else ""
    raw_type = raw_type if isinstance(raw_type, str) else ""
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


def _batch_elements(request: RequestRecord, *, count: int) -> list[bytes] | None:
    """Each element of a batch body exactly as it arrived, to keep a refused one byte for byte
    (None when the body does not read so; then the element is written from its parsed value)."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    spans = array_element_spans(text)
    if spans is None or len(spans) != count:
        return None
    return [text[start:end].encode("utf-8") for start, end in spans]


def _element_bytes(raw: Any) -> bytes:
    """One refused batch element as JSON text, whatever it holds: a lone surrogate is written as
    its escape (`\\ud800`), NaN as `NaN`, as they arrived."""
    try:
        text = json.dumps(raw, ensure_ascii=False)
    except (RecursionError, ValueError):
        text = json.dumps(printable_json(raw), ensure_ascii=False)
    return text.encode("utf-8", errors="backslashreplace")
