"""How the traces app says a trace changed: one call per trace, inside the writer's transaction.

Listeners (live pages, later exception rules) hear it after commit through
`controltower.changes`. The scope is the trace's plant and supplier, and also the ones it had
before when a write moved it: viewers of the old plant must see it leave their list.
"""

from __future__ import annotations

from controltower.changes import Kind, announce


def trace_changed_announce(
    *,
    trace_id: int,
    plant_id: int | None,
    supplier_id: int | None,
    before: tuple[int | None, int | None] = (None, None),
    kind: Kind = Kind.TRACE_CHANGED,
) -> None:
    """Announce `kind` (trace changed, or one of its milestones turned late) for one trace."""
    announce(
        kind,
        trace_id,
        plant_ids=(plant_id, before[0]),
        supplier_ids=(supplier_id, before[1]),
    )
