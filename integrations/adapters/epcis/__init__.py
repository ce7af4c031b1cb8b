"""GS1 EPCIS 2.0 capture adapter: EPCIS JSON / JSON-LD documents to canonical contract events.

Pure Python (no Django). The capture view calls :func:`epcis_capture_map`, stores
``result.events`` and ``result.telemetry`` like CloudEvents (``type``, ``id``, ``time``,
``data``) and reports ``result.errors`` (JSON pointers into the posted document)::

    result = epcis_capture_map(document, plant="DE10", supplier=None)
    for mapped in [*result.events, *result.telemetry]:
        store(type=mapped.type, id=mapped.id, time=mapped.time, data=mapped.data)

What maps to what (ObjectEvent / AggregationEvent, action ADD or OBSERVE, no errorDeclaration):

* bizStep ``shipping``  -> ``shipment.dispatched``
* bizStep ``receiving`` -> ``goods.received``
* bizStep ``departing`` -> ``shipment.milestone`` (picked_up); ``arriving`` -> (arrived)
* anything else that is valid EPCIS -> ``integration.telemetry`` (hop ``epcis``, status
  ``received``), with a note in ``extensions.epcis.notes`` saying why.
"""

from __future__ import annotations

from .capture import epcis_capture_map
from .model import CaptureResult, MappedEvent
from .schema import epcis_schema_errors

__all__ = ["CaptureResult", "MappedEvent", "epcis_capture_map", "epcis_schema_errors"]
