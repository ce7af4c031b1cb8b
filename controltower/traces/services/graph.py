"""The correlation graph, read level by level: which objects a trace spans, which roots an
object reaches.

Both walks are breadth-first and batched across all starting points, so one correlation batch
costs a few queries per hop, not per root. They are bounded (`MAX_HOPS`, `MAX_OBJECTS`):
a real trace is a handful of hops deep (PO → shipment → tracking number / receipt); a walk
that goes further is following a mis-keyed or reused identifier (a carrier recycling a
tracking number, a "0" receipt id) and would otherwise pull unrelated orders into one trace
and make every batch touching it slow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from controltower.traces.models import ROOT_FLOWS, BusinessObject, ObjectLink

MAX_HOPS = 5
MAX_OBJECTS = 10_000
# Ids per `IN (…)` list: well under SQLite's 32,766 bound parameters, and a fine size for PostgreSQL.
ID_CHUNK = 2_000

PO_LINE = "po_line"
PURCHASE_ORDER = "purchase_order"


def chunks(ids: Iterable[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    batch = sorted(ids)
    for start in range(0, len(batch), size):
        yield batch[start : start + size]


class Graph:
    """A lazily loaded view of `BusinessObject`s and `ObjectLink`s, cached for one batch."""

    def __init__(self) -> None:
        self.adjacent: dict[int, set[int]] = {}
        self.info: dict[int, tuple[str, str]] = {}  # id → (kind, key)

    def remember(self, objects: dict[tuple[str, str], int]) -> None:
        """Record objects whose ids the caller already knows (saves a query)."""
        for kind_key, pk in objects.items():
            self.info[pk] = kind_key

    def expand(self, ids: Iterable[int]) -> None:
        """Load the neighbours of `ids` (and what each neighbour is) unless already loaded."""
        missing = [pk for pk in ids if pk not in self.adjacent]
        if not missing:
            return
        for pk in missing:
            self.adjacent[pk] = set()
        for chunk in chunks(missing):
            for low, high in ObjectLink.objects.filter(low_id__in=chunk).values_list("low_id", "high_id"):
                self.adjacent[low].add(high)
            for low, high in ObjectLink.objects.filter(high_id__in=chunk).values_list("low_id", "high_id"):
                self.adjacent[high].add(low)
        self.describe(n for pk in missing for n in self.adjacent[pk])

    def describe(self, ids: Iterable[int]) -> None:
        """Load kind and key of `ids` unless known."""
        unknown = {pk for pk in ids if pk not in self.info}
        for chunk in chunks(unknown):
            for pk, kind, key in BusinessObject.objects.filter(id__in=chunk).values_list("id", "kind", "key"):
                self.info[pk] = (kind, key)

    def is_root(self, pk: int) -> bool:
        return self.info[pk][0] in ROOT_FLOWS


def _belongs(graph: Graph, *, root: int, candidate: int) -> bool:
    """Whether the walk from `root` may include (and go on through) `candidate`.

    Another root never belongs: two POs on one ASN are two traces sharing the ASN, not one.
    A PO line belongs only to its own PO's trace (its key is "<po>/<line>"): an ASN naming lines
    of PO A and PO B links B's lines to A's shipment, but they are B's business.
    """
    kind, key = graph.info[candidate]
    if kind in ROOT_FLOWS:
        return False
    if kind == PO_LINE:
        root_kind, root_key = graph.info[root]
        return root_kind == PURCHASE_ORDER and key.partition("/")[0] == root_key
    return True


def trace_objects(graph: Graph, *, roots: Iterable[int]) -> dict[int, set[int]]:
    """For each root, the objects its trace spans (the root included). Bounded; see module."""
    roots = list(roots)
    graph.describe(roots)
    spans = {root: {root} for root in roots}
    frontiers = {root: {root} for root in roots}
    for _hop in range(MAX_HOPS):
        frontiers = {root: frontier for root, frontier in frontiers.items() if frontier}
        if not frontiers:
            break
        graph.expand(set().union(*frontiers.values()))
        for root, frontier in frontiers.items():
            span, reached = spans[root], set()
            for node in frontier:
                for neighbour in graph.adjacent[node]:
                    if len(span) >= MAX_OBJECTS:
                        break
                    if neighbour not in span and _belongs(graph, root=root, candidate=neighbour):
                        span.add(neighbour)
                        reached.add(neighbour)
            frontiers[root] = reached
    return spans


def roots_reaching(graph: Graph, *, objects: Iterable[int]) -> set[int]:
    """Roots whose trace may span any of `objects`: roots among them, and roots reachable from
    them through non-root objects within the same bounds as `trace_objects` (so every root
    whose walk can reach an object is found by walking back from that object)."""
    objects = set(objects)
    graph.describe(objects)
    roots = {pk for pk in objects if graph.is_root(pk)}
    seen = set(objects)
    frontier = objects - roots
    for _hop in range(MAX_HOPS):
        if not frontier or len(seen) >= MAX_OBJECTS:
            break
        graph.expand(frontier)
        reached = set()
        for node in frontier:
            for neighbour in graph.adjacent[node] - seen:
                seen.add(neighbour)
                if graph.is_root(neighbour):
                    roots.add(neighbour)  # a root ends the walk: its own links are its trace's
                else:
                    reached.add(neighbour)
        frontier = reached
    return roots
