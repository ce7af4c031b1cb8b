"""`POST /api/v1/epcis/capture`: GS1 EPCIS 2.0 capture documents from source systems.

Each EPCIS event is mapped (see `integrations.adapters.epcis`) to a canonical business event or
kept as integration telemetry, then stored through the same intake as CloudEvents: same
idempotency (the EPCIS eventID, or a hash of the event), same rejected-message keeping.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from controltower.masterdata.models import Plant, Supplier
from controltower.masterdata.selectors import partner_codes_by_gln
from integrations.adapters.cloudevents import CloudEvent, parse_rfc3339
from integrations.adapters.epcis import epcis_capture_map
from integrations.apis import intake_schema
from integrations.apis.body import BodyProblem, media_type, parse_json, read_body, request_headers
from integrations.apis.events import answer_many, refuse
from integrations.apis.permissions import IsSourceSystem
from integrations.contracts import FieldError
from integrations.models import Event, SourceSystem
from integrations.services.intake import Candidate, RequestRecord, events_ingest
from integrations.throttling import SystemTokenRateThrottle

EPCIS_MEDIA_TYPES = {"application/json", "application/ld+json"}
_EVENT_POINTER = re.compile(r"^(/epcisBody/eventList/\d+)")


def _source_of(system: SourceSystem) -> str:
    sources = sorted(system.sources.values_list("source", flat=True))
    return system.code if system.code in sources else (sources[0] if sources else system.code)


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


def _event_errors(document, errors: list[FieldError], start: int) -> list[Candidate]:
    """Per-event mapping errors become rejected candidates carrying that event's JSON."""
    by_event: dict[str, list[FieldError]] = defaultdict(list)
    for error in errors:
        match = _EVENT_POINTER.match(error.pointer)
        by_event[match.group(1) if match else ""].append(error)
    candidates = []
    for offset, (pointer, grouped) in enumerate(sorted(by_event.items())):
        raw = _resolve(document, pointer)
        candidates.append(
            Candidate(raw=raw, event=None, errors=grouped, index=start + offset, prefix=pointer)
        )
    return candidates


def _resolve(document, pointer: str):
    node = document
    for part in [p for p in pointer.split("/") if p]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return node


class EpcisCaptureApi(APIView):
    """Capture an EPCIS 2.0 document (JSON or JSON-LD) as canonical events and telemetry."""

    permission_classes = [IsSourceSystem]
    throttle_classes = [SystemTokenRateThrottle]
    parser_classes: list = []

    @extend_schema(
        request=intake_schema.EPCIS_REQUEST,
        responses=intake_schema.EPCIS_RESPONSES,
        description=(
            "ObjectEvents and AggregationEvents with bizStep shipping, departing, arriving and receiving become "
            "shipment.dispatched, shipment.milestone and goods.received, with bizTransactionList purchase orders "
            "and despatch advices as identifiers; other events are kept as integration.telemetry. Bare and "
            "URN CBV values are understood; non-standard values are refused with the reason. An error "
            "in the canonical event an EPCIS event maps to is reported under that event's pointer, "
            "e.g. `/epcisBody/eventList/0/data/plant` (the `plant` of the mapped event)."
        ),
    )
    def post(self, request):
        system = request.user.system
        try:
            body = read_body(request)
            if media_type(request) not in EPCIS_MEDIA_TYPES:
                raise BodyProblem(
                    status=415,
                    slug="unsupported-media-type",
                    body=body,
                    detail="Send the EPCIS document as application/ld+json or application/json.",
                )
            document = parse_json(body)
        except BodyProblem as problem:
            return refuse(request, problem, system=system)
        result = epcis_capture_map(
            document,
            plant=system.plant.code if system.plant_id else None,
            supplier=system.supplier.code if system.supplier_id else None,
        )
        if result.errors and not result.events and not result.telemetry and _document_level(result.errors):
            problem = BodyProblem(
                status=400, slug="validation-error", body=body, detail=result.errors[0].detail
            )
            problem.errors = result.errors
            return refuse(request, problem, system=system)
        source = _source_of(system)
        mapped = _with_partner_codes([*result.events, *result.telemetry])
        candidates = [_candidate(m, source=source, index=i) for i, m in enumerate(mapped)]
        candidates += _event_errors(document, result.errors, start=len(candidates))
        record = RequestRecord(
            request.path, request.META.get("CONTENT_TYPE", ""), request_headers(request), body
        )
        outcomes = events_ingest(system=system, candidates=candidates, mode=Event.Mode.EPCIS, request=record)
        return answer_many(outcomes)


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


def _document_level(errors: list[FieldError]) -> bool:
    return any(not _EVENT_POINTER.match(error.pointer) for error in errors)
