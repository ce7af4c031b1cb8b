"""The places an EPCIS event puts goods at or sends them to, by GLN, for the plant check.

A plant's MES posts about its own plant. An event naming another plant as where the goods are
(``readPoint``, ``bizLocation``) or go (``destinationList``) would otherwise be filed under the
sender's plant, hidden from the plant it concerns; the capture service refuses it by these
pointers (see ``integrations.services.capture``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import gs1
from .documents import document_event_list, event_list_pointer

__all__ = ["Place", "event_places"]


@dataclass(frozen=True)
class Place:
    """A GLN named by an event, with the JSON pointer of the field that names it."""

    pointer: str
    gln: str


def _events(document: Any) -> list[tuple[str, Any]]:
    if not isinstance(document, dict):
        return []
    where = event_list_pointer(document)
    if where is None:
        return [("", document)]
    events = document_event_list(document)
    return [(f"{where}/{i}", e) for i, e in enumerate(events)] if isinstance(events, list) else []


def _places_of(event: Any, pointer: str) -> list[Place]:
    if not isinstance(event, dict):
        return []
    named: list[tuple[str, Any]] = []
    for key in ("readPoint", "bizLocation"):
        value = event.get(key)
        if isinstance(value, dict):
            named.append((f"{pointer}/{key}/id", value.get("id")))
    destinations = event.get("destinationList")
    if isinstance(destinations, list):
        for index, item in enumerate(destinations):
            if isinstance(item, dict):
                named.append((f"{pointer}/destinationList/{index}/destination", item.get("destination")))
    places = []
    for where, value in named:
        found = gs1.gln(value) if isinstance(value, str) else None
        if found:
            places.append(Place(where, found))
    return places


def event_places(document: Any) -> dict[str, list[Place]]:
    """Event pointer -> the GLNs its readPoint, bizLocation and destinations name. Never raises."""
    return {pointer: _places_of(event, pointer) for pointer, event in _events(document)}
