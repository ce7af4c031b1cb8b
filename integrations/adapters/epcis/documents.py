"""Where an EPCIS 2.0 document keeps its events.

Two document types carry events: an ``EPCISDocument`` (what a capture client sends) and an
``EPCISQueryDocument`` (what a repository answers to a query or pushes to a subscriber), whose
events sit under the query's results. Both are captured alike; everything that looks for a
document's events asks here, so the two layouts are known in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EVENT_LISTS", "document_event_list", "event_list_pointer"]

#: Document ``type`` -> the JSON pointer of its event list.
EVENT_LISTS = {
    "EPCISDocument": "/epcisBody/eventList",
    "EPCISQueryDocument": "/epcisBody/queryResults/resultsBody/eventList",
}


def event_list_pointer(document: Any) -> str | None:
    """The pointer of ``document``'s event list; None when it is no document of either type
    (a single event posted on its own, say). Never raises."""
    kind = document.get("type") if isinstance(document, dict) else None
    return EVENT_LISTS.get(kind) if isinstance(kind, str) else None


def document_event_list(document: Any) -> Any:
    """The value at ``document``'s event list pointer (not necessarily a list); None when it is
    no document or a level on the way is missing. Never raises."""
    pointer = event_list_pointer(document)
    node = document if pointer else None
    for key in pointer.strip("/").split("/") if pointer else ():
        node = node.get(key) if isinstance(node, dict) else None
    return node
