"""Writers of the traces app: correlation (graph and traces) lives in `correlation`."""

from __future__ import annotations

from controltower.traces.services.correlation import correlate_events, events_correlate_pending

__all__ = ["correlate_events", "events_correlate_pending"]
