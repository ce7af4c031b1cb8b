"""The admin shows sandbox receivers as such, and their receipts read-only."""

from __future__ import annotations

import pytest

from integrations.sandbox.services import sandbox_receipt_record

pytestmark = pytest.mark.django_db


def test_receiver_list_is_labelled_sandbox(admin_client, make_receiver):
    make_receiver("erp", name="Simulated ERP")

    page = admin_client.get("/admin/sandbox/sandboxreceiver/").content.decode()

    assert "Sandbox targets" in page
    assert "Simulated ERP" in page
    assert 'class="column-sandbox"' in page
    cell = page[page.index('<td class="field-sandbox">') :][:200]
    assert 'alt="True"' in cell


def test_receipts_are_read_only_in_the_admin(admin_client, make_receiver):
    receipt = sandbox_receipt_record(
        receiver=make_receiver("erp"),
        idempotency_key="k1",
        body=b"{}",
        content_type="application/json",
        headers={},
    ).receipt

    page = admin_client.get(f"/admin/sandbox/sandboxreceipt/{receipt.pk}/change/")
    posted = admin_client.post(f"/admin/sandbox/sandboxreceipt/{receipt.pk}/change/", {"times_received": 9})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    assert admin_client.get("/admin/sandbox/sandboxreceipt/add/").status_code == 403
    receipt.refresh_from_db()
    assert receipt.times_received == 1
