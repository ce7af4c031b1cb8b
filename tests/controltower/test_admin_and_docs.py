"""The admin's labels read as English, and the API docs lead back to the app."""

from __future__ import annotations

import re

import pytest
from django.apps import apps

from controltower.accounts.roles import Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", apps.get_models(), ids=lambda model: model._meta.label)
def test_every_model_has_an_english_plural(model):
    plural = str(model._meta.verbose_name_plural)
    # Django's default appends "s": "deliverys", "audit entrys", "statuss", "boxs".
    assert not re.search(r"([^aeiou]ys|ss|xs|chs|shs)$", plural), plural


def test_admin_index_says_deliveries_and_audit_entries(client, make_user):
    admin = make_user("root", Role.ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    index = client.get("/admin/").content.decode()
    assert "Deliveries" in index and "Audit entries" in index
    assert "Deliverys" not in index and "entrys" not in index


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_lead_back_to_the_app(client, viewer, url):
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert re.search(r'<a href="/">← Control tower</a>', page)
    assert 'href="/api/schema/"' in page
