"""The baseline's worker side (see `bench/live_fanout.py`): the product's Celery app plus a
`changed` receiver that renders one table row per changed trace and sends it to every browser's
consumer with one channel-layer `group_send` — one per event, as each benchmark event starts a
trace of its own. Started only by the benchmark: `celery -A bench.live_fanout_worker worker`.
"""

from __future__ import annotations

import os

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils.html import format_html

from controltower.celery import app  # noqa: F401 — `celery -A bench.live_fanout_worker` finds it
from controltower.changes import Kind, changed

GROUP = "bench-fanout"


def send_rows(sender=None, *, changes, **kwargs) -> None:
    """One rendered row and one `group_send` per changed trace."""
    from controltower.traces.models import Trace

    ids = [change.id for change in changes if change.kind == Kind.TRACE_CHANGED]
    if not ids:
        return
    layer = get_channel_layer()
    for trace in Trace.objects.filter(pk__in=ids).select_related("root", "plant", "supplier"):
        html = format_html(
            '<tr id="trace-{}"><td>{}</td><td><code>{}:{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            trace.pk,
            trace.get_state_display(),
            trace.root.kind,
            trace.root.key,
            trace.plant.code if trace.plant else "—",
            trace.supplier.code if trace.supplier else "—",
            trace.event_count,
        )
        async_to_sync(layer.group_send)(
            GROUP,
            {"type": "bench.row", "html": html, "plant": trace.plant_id, "supplier": trace.supplier_id},
        )


if os.environ.get("BENCH_LIVE_FANOUT") == "1":  # the baseline phase's worker only
    changed.connect(send_rows, dispatch_uid="bench-live-fanout")
