"""The business rules through the real path: events posted to intake, the change boundary's
receiver queueing `exceptions.rules`, a real Celery worker opening the case and, after a
correcting event, resolving it itself."""

from __future__ import annotations

import pytest

from exceptions.models import Case
from tests.conftest import wait_for
from tests.exceptions.rule_events import asn, po, po_change, send

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_short_asn_opens_a_case_in_a_real_worker_and_a_po_change_resolves_it(
    client, senders, celery_worker_process
):
    send(client, senders["erp"], "purchase_order.released", po())
    send(client, senders["portal"], "shipment.dispatched", asn())
    case = wait_for(
        lambda: Case.objects.filter(kind=Case.Kind.QUANTITY_MISMATCH).first(),
        timeout=60,
        what="the mismatch case",
    )
    assert case.summary.startswith("ASN ASN-88123401 ships 480 EA of RM-100271 for PO 4500012345/10")
    worker_log = celery_worker_process.output()
    assert "exceptions.rules[" in worker_log
    send(client, senders["erp"], "purchase_order.changed", po_change())
    wait_for(
        lambda: Case.objects.filter(pk=case.pk, state=Case.State.RESOLVED).exists(),
        timeout=60,
        what="the case to resolve itself",
    )
    # Correlation announced the PO's trace too: the milestone rule ran in the worker on it.
    assert Case.objects.get(pk=case.pk).trace is not None
