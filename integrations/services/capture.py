"""EPCIS 2.0 capture: one posted document to stored events, all or nothing by default.

`epcis_capture` is what `POST /api/v1/epcis/capture` calls. The EPCIS 2.0 REST binding makes
"rollback" the default `GS1-Capture-Error-Behaviour`: a document with any invalid event stores
none of its events. "proceed" stores the valid events and keeps each invalid one as a rejected
message. A document is bounded by INTAKE_MAX_BODY_BYTES and INTAKE_MAX_BATCH_EVENTS like a
CloudEvents batch; up to EPCIS_CAPTURE_INLINE_EVENTS events it is captured within the request
(its job is finished when the 202 names it), a larger one by a worker (`capture_jobs`).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from controltower.masterdata.models import Plant, Supplier
from controltower.masterdata.selectors import partner_codes_by_gln
from integrations.adapters.cloudevents import CloudEvent, parse_rfc3339
from integrations.adapters.epcis import epcis_capture_map
from integrations.adapters.epcis.documents import EVENT_LISTS, document_event_list, event_list_pointer
from integrations.adapters.epcis.places import event_places
from integrations.adapters.epcis.rules import epcis_document_errors
from integrations.contracts import FieldError
from integrations.models import CaptureJob, Event, SourceSystem
from integrations.services.intake import REJECTED, Candidate, Outcome, RequestRecord, events_ingest

__all__ = ["CaptureRefused", "capture_job_finish", "capture_outcomes", "epcis_capture"]

ROLLBACK = CaptureJob.ErrorBehaviour.ROLLBACK
_EVENT_POINTER = re.compile(
    "^((?:" + "|".join(re.escape(pointer) for pointer in EVENT_LISTS.values()) + r")/\d+)"
)
#: The problem type of a refused event in a capture job (the REST binding's exception names).
VALIDATION_EXCEPTION = "epcisException:ValidationException"
SECURITY_EXCEPTION = "epcisException:SecurityException"


@dataclass
class CaptureRefused(Exception):
    """The document is refused as a whole: nothing of it was stored. `errors` name each field;
    `forbidden` when the refusal is about what the system may post, not about the document;
    `detail` says why when one problem concerns the whole document (not an EPCIS document, ...);
    `plant_id`/`supplier_id` are what the kept document is filed under (see `_filed_under`)."""

    errors: list[FieldError]
    forbidden: bool = False
    detail: str = ""
    plant_id: int | None = None
    supplier_id: int | None = None


@dataclass
class _Plan:
    """What a document becomes: candidates for intake, and the errors found before intake."""

    candidates: list[Candidate] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    forbidden: bool = False  # every error is about what the system may post


def _event_of(pointer: str) -> str:
    match = _EVENT_POINTER.match(pointer)
    return match.group(1) if match else ""


def _source_of(system: SourceSystem) -> str:
    sources = sorted(system.sources.values_list("source", flat=True))
    return system.code if system.code in sources else (sources[0] if sources else system.code)


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for part in [p for p in pointer.split("/") if p]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return node


def _with_partner_codes(mapped: list) -> list:
    """EPCIS names plants and suppliers by GLN; our events name them by code. Where a GLN is
    registered to a plant or supplier, its code takes its place (unknown GLNs stay and are
    refused by intake with the reason, so the sender learns which GLN to register)."""
    glns = {
        kind: {m.data.get(kind) for m in mapped if isinstance(m.data.get(kind), str)}
        for kind in ("plant", "supplier")
    }
    codes = {
        "plant": partner_codes_by_gln(Plant, glns["plant"]),
        "supplier": partner_codes_by_gln(Supplier, glns["supplier"]),
    }
    result = []
    for item in mapped:
        data = dict(item.data)
        for kind in ("plant", "supplier"):
            if data.get(kind) in codes[kind]:
                data[kind] = codes[kind][data[kind]]
        result.append(replace(item, data=data))
    return result


def _foreign_plant_errors(document: Any, *, system: SourceSystem) -> list[FieldError]:
    """Places of another plant named by an event of a plant-bound system.

    The event contracts give an event one plant (shipment.dispatched: the ship-to plant;
    goods.received: the receiving plant), and scope gives each stored event to the users of
    that one plant. So an event from plant A's MES whose destination, readPoint or bizLocation
    is plant B cannot be recorded under both: stored under A (as it was), B's people never see
    it; stored under B, A's system would post for a plant it does not serve. It is refused,
    naming the field, as intake refuses a CloudEvent naming another plant; a plant-to-plant
    move travels as inventory.transferred, whose contract has a `to_plant`.
    """
    if system.plant_id is None:
        return []
    places = event_places(document)
    glns = {place.gln for found in places.values() for place in found}
    plants = partner_codes_by_gln(Plant, glns)
    own = system.plant.code
    return [
        FieldError(
            place.pointer,
            f"GLN {place.gln} is plant {plants[place.gln]}; system {system.code} posts for plant {own} "
            "only (a move between plants is an inventory.transferred event with to_plant)",
        )
        for found in places.values()
        for place in found
        if place.gln in plants and plants[place.gln] != own
    ]


def _filed_under(document: Any, *, system: SourceSystem) -> tuple[int | None, int | None]:
    """The plant and supplier a refused document is kept under, so that their people see it.

    The system's own, where it has one. A system serving no one plant (an ERP, a carrier's
    platform) posts for many, so its refused document goes to the one plant (or supplier) that
    all its events name: by code, or by the GLN of a readPoint, bizLocation or destination.
    Events naming several, or none: no plant (only people of every plant see the document, which
    may hold several plants' events)."""
    plant_id, supplier_id = system.plant_id, system.supplier_id
    if plant_id is not None and supplier_id is not None:
        return plant_id, supplier_id
    result = epcis_capture_map(document)
    mapped = _with_partner_codes([*result.events, *result.telemetry])
    glns = {place.gln for found in event_places(document).values() for place in found}
    if plant_id is None:
        plant_id = _the_one(Plant, {m.data.get("plant") for m in mapped}, glns)
    if supplier_id is None:
        supplier_id = _the_one(Supplier, {m.data.get("supplier") for m in mapped}, set())
    return plant_id, supplier_id


def _the_one(model: type[Plant] | type[Supplier], codes: set, glns: set[str]) -> int | None:
    named = {code for code in codes if isinstance(code, str) and code}
    if not (named or glns):
        return None
    found = set(
        model.objects.filter(Q(code__in=named) | Q(gln__in=glns | named)).values_list("pk", flat=True)
    )
    return found.pop() if len(found) == 1 else None


def _candidate(mapped, *, source: str, index: int) -> Candidate:
    event = CloudEvent(
        specversion="1.0",
        id=mapped.id,
        source=source,
        type=mapped.type,
        time=parse_rfc3339(mapped.time),
        datacontenttype="application/json",
        data=mapped.data,
        has_data=True,
    )
    return Candidate(raw=event.as_structured(), event=event, index=index, prefix=mapped.pointer)


def _plan(document: Any, *, system: SourceSystem) -> _Plan:
    """Map the document and check it; raise CaptureRefused for document-level errors."""
    result = epcis_capture_map(
        document,
        plant=system.plant.code if system.plant_id else None,
        supplier=system.supplier.code if system.supplier_id else None,
    )
    if any(not _EVENT_POINTER.match(e.pointer) for e in result.errors) and not (
        result.events or result.telemetry
    ):
        raise CaptureRefused(result.errors, detail=result.errors[0].detail)
    # The mapper's messages are the more specific; the structure check adds what it leaves open.
    covered = {e.pointer for e in result.errors}
    errors = list(result.errors)
    errors += [e for e in epcis_document_errors(document) if e.pointer not in covered]
    foreign = _foreign_plant_errors(document, system=system)
    errors += foreign
    if event_list_pointer(document) is not None:
        about_document = [e for e in errors if not _EVENT_POINTER.match(e.pointer)]
        if about_document:  # e.g. no @context or creationDate: no event can be taken from it
            raise CaptureRefused(errors, detail=about_document[0].detail)
    failed = {_event_of(e.pointer) for e in errors}
    source = _source_of(system)
    mapped = _with_partner_codes(
        [m for m in [*result.events, *result.telemetry] if _event_of(m.pointer) not in failed]
    )
    plan = _Plan(errors=errors, forbidden=bool(foreign) and len(foreign) == len(errors))
    plan.candidates = [_candidate(m, source=source, index=i) for i, m in enumerate(mapped)]
    by_event: dict[str, list[FieldError]] = defaultdict(list)
    for error in errors:
        by_event[_event_of(error.pointer)].append(error)
    in_document_order = sorted(
        by_event.items(), key=lambda item: [int(p) for p in re.findall(r"\d+", item[0])]
    )
    for offset, (pointer, grouped) in enumerate(in_document_order):
        candidate = Candidate(
            raw=_resolve(document, pointer),
            event=None,
            errors=grouped,
            index=len(mapped) + offset,
            prefix=pointer,
        )
        plan.candidates.append(candidate)
    return plan


class _Rollback(Exception):
    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes


def _problem(outcome: Outcome, *, instance: str) -> dict[str, Any]:
    """One refused event as the REST binding's capture job error (an RFC 9457 problem)."""
    status = 403 if outcome.forbidden else 400
    return {
        "type": SECURITY_EXCEPTION if outcome.forbidden else VALIDATION_EXCEPTION,
        "title": "The event may not be posted by this system" if outcome.forbidden else "Invalid EPCIS event",
        "status": status,
        "detail": "; ".join(f"{e.pointer}: {e.detail}" for e in outcome.errors)[:1000],
        "instance": instance,
        "errors": [{"pointer": e.pointer, "detail": e.detail} for e in outcome.errors],
        "rejected_message": outcome.rejected_pk,
    }


def epcis_capture(
    *, system: SourceSystem, document: Any, behaviour: str, request: RequestRecord, instance: str
) -> CaptureJob:
    """Capture one EPCIS document for `system`; its capture job.

    A document of at most EPCIS_CAPTURE_INLINE_EVENTS events is captured now and its job is
    finished (see `capture_outcomes` for what is stored); CaptureRefused is raised when it is
    refused as a whole, and nothing of it is stored (the caller keeps its body as a rejected
    message). A larger one is not held in the request: its job is returned running, and a
    worker on the ingest queue captures it the same way (`capture_job_run`).
    """
    if _event_count(document) > settings.EPCIS_CAPTURE_INLINE_EVENTS:
        from integrations.services.capture_jobs import capture_job_queue

        return capture_job_queue(system=system, behaviour=behaviour, request=request)
    with transaction.atomic():
        outcomes = capture_outcomes(system=system, document=document, behaviour=behaviour, request=request)
        job = CaptureJob(
            capture_id=uuid.uuid4(),
            system=system,
            plant_id=system.plant_id,
            supplier_id=system.supplier_id,
            error_behaviour=behaviour,
        )
        capture_job_finish(job, outcomes=outcomes, instance=instance)
    return job


def _event_count(document: Any) -> int:
    events = document_event_list(document)
    return len(events) if isinstance(events, list) else 1


def capture_outcomes(
    *, system: SourceSystem, document: Any, behaviour: str, request: RequestRecord
) -> list[Outcome]:
    """Check and store the events of `document` for `system`; one intake outcome per event.

    Guarantees:
    - `rollback` (the standard's default): either every event of the document is stored (or
      was already: `duplicate`), or nothing is stored and CaptureRefused is raised with every
      error found (structure, CBV vocabulary, contract, plant, intake);
    - `proceed`: the valid events are stored; each invalid one is kept as a rejected message
      and its outcome is `rejected`;
    - a document that is not one (not an EPCISDocument, EPCISQueryDocument or event, no
      eventList, no @context, ...)
      raises CaptureRefused whatever the behaviour;
    - a CaptureRefused names the plant and supplier to keep the document under (`_filed_under`).
    """
    try:
        return _captured(system=system, document=document, behaviour=behaviour, request=request)
    except CaptureRefused as refused:
        refused.plant_id, refused.supplier_id = _filed_under(document, system=system)
        raise


def _captured(
    *, system: SourceSystem, document: Any, behaviour: str, request: RequestRecord
) -> list[Outcome]:
    plan = _plan(document, system=system)
    if plan.errors and behaviour == ROLLBACK:
        raise CaptureRefused(plan.errors, forbidden=plan.forbidden)
    try:
        with transaction.atomic():
            outcomes = events_ingest(
                system=system, candidates=plan.candidates, mode=Event.Mode.EPCIS, request=request
            )
            if behaviour == ROLLBACK and any(o.status == REJECTED for o in outcomes):
                raise _Rollback(outcomes)  # undoes the stored events and their outbox rows
            return outcomes
    except _Rollback as rollback:
        refused = [o for o in rollback.outcomes if o.status == REJECTED]
        raise CaptureRefused(
            [e for o in refused for e in o.errors], forbidden=all(o.forbidden for o in refused)
        ) from None


def capture_job_finish(
    job: CaptureJob, *, outcomes: list[Outcome], instance: str, refusal: dict[str, Any] | None = None
) -> None:
    """Record what became of the job's events (or its refusal, a problem) and save it finished."""
    counts = {status: 0 for status in ("accepted", "duplicate", "rejected")}
    for outcome in outcomes:
        counts[outcome.status] += 1
    job.finished_at = timezone.now()
    job.counts = counts
    job.results = [o.as_dict() for o in outcomes]
    job.errors = (
        [refusal] if refusal else [_problem(o, instance=instance) for o in outcomes if o.status == REJECTED]
    )
    job.success = not job.errors
    job.body = None  # the events are stored, the refused ones kept as rejected messages
    job.save()
