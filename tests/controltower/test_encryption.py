"""Secrets at rest: target and sandbox secrets are stored encrypted, read back in clear by code,
survive a key rotation, never go back to a browser, and existing rows are encrypted by migration."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from controltower.accounts.roles import Role
from controltower.encryption import SecretUnreadable
from integrations.delivery.models import Target
from integrations.sandbox.models import SandboxReceiver
from integrations.sandbox.services import sandbox_receiver_upsert

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_secret(model, pk: int) -> str:
    """The column as stored, past the field's decryption."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_raw_columns_hold_no_plaintext_and_code_reads_the_plaintext():
    target = Target.objects.create(
        code="erp", name="ERP", url="http://x.test/", auth="bearer", secret="tok-PLAIN-1"
    )
    receiver = sandbox_receiver_upsert(code="erp", auth_kind="basic", secret="user:PLAIN-pw")

    for model, pk, plaintext in (
        (Target, target.pk, "tok-PLAIN-1"),
        (SandboxReceiver, receiver.pk, "user:PLAIN-pw"),
    ):
        stored = raw_secret(model, pk)
        assert "PLAIN" not in stored and stored.startswith("gAAAAA")  # a Fernet token
        assert model.objects.get(pk=pk).secret == plaintext
        assert model.objects.filter(pk=pk).values_list("secret", flat=True).get() == plaintext


@pytest.mark.django_db
def test_an_empty_secret_stays_empty_and_needs_no_key():
    target = Target.objects.create(code="open", name="Open", url="http://x.test/")

    assert raw_secret(Target, target.pk) == ""
    assert Target.objects.filter(secret="").get() == target


@pytest.mark.django_db
def test_a_row_encrypted_with_the_old_key_is_read_after_a_new_key_is_put_first(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    target = Target.objects.create(
        code="erp", name="ERP", url="http://x.test/", auth="hmac", secret="k3y-old"
    )
    written_with_old = raw_secret(Target, target.pk)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert Target.objects.get(pk=target.pk).secret == "k3y-old"

    out = io.StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "delivery.Target.secret: 1 re-encrypted" in out.getvalue()
    assert raw_secret(Target, target.pk) != written_with_old
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key dropped after re-encryption
    assert Target.objects.get(pk=target.pk).secret == "k3y-old"


@pytest.mark.django_db
def test_a_secret_no_key_decrypts_is_a_clear_error_not_garbage(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    target = Target.objects.create(code="erp", name="ERP", url="http://x.test/", auth="bearer", secret="tok")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(SecretUnreadable, match="FIELD_ENCRYPTION_KEY"):
        Target.objects.get(pk=target.pk)


@pytest.mark.django_db
def test_the_admin_never_sends_a_secret_back_and_an_empty_field_keeps_it(client, make_user):
    admin_user = make_user("root", Role.ADMIN)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    receiver = sandbox_receiver_upsert(code="erp", name="ERP", auth_kind="bearer", secret="tok-SHOWN-NEVER")
    target = Target.objects.create(
        code="erp", name="ERP", url="http://x.test/", auth="bearer", secret="tok-SHOWN-NEVER"
    )

    for path in (
        f"/admin/sandbox/sandboxreceiver/{receiver.pk}/change/",
        f"/admin/delivery/target/{target.pk}/change/",
    ):
        page = client.get(path)
        assert page.status_code == 200 and "tok-SHOWN-NEVER" not in page.content.decode()

    form = client.get(f"/admin/sandbox/sandboxreceiver/{receiver.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"name": "ERP renamed", "secret": ""})
    saved = client.post(f"/admin/sandbox/sandboxreceiver/{receiver.pk}/change/", data)
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    receiver.refresh_from_db()
    assert (receiver.name, receiver.secret) == ("ERP renamed", "tok-SHOWN-NEVER")


def _around(app: str, suffix: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(the migration of `app` named *`suffix`, the one before it): found by name, not number."""
    graph = MigrationExecutor(connection).loader.graph
    (node,) = [key for key in graph.nodes if key[0] == app and key[1].endswith(suffix)]
    (parent,) = [key for key in graph.node_map[node].parents if key[0] == app]
    return node, parent


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_secrets_stored_in_plain_text_before_it():
    targets = _around("delivery", "target_secret_encrypted")
    receivers = _around("sandbox", "receiver_secret_encrypted")
    executor = MigrationExecutor(connection)
    executor.migrate([targets[1], receivers[1]])
    # The models as they were before the migration: their secret is a plain CharField.
    loader = MigrationExecutor(connection).loader
    target_pk = (
        loader.project_state(targets[1])
        .apps.get_model("delivery", "Target")
        .objects.create(code="old", name="Old", url="http://x.test/", auth="bearer", secret="tok-LEGACY")
        .pk
    )
    receiver_pk = (
        loader.project_state(receivers[1])
        .apps.get_model("sandbox", "SandboxReceiver")
        .objects.create(code="old", name="Old", auth_kind="hmac", secret="k3y-LEGACY")
        .pk
    )
    assert raw_secret(Target, target_pk) == "tok-LEGACY"  # stored in plain text, as before

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert "LEGACY" not in raw_secret(Target, target_pk) and "LEGACY" not in raw_secret(
        SandboxReceiver, receiver_pk
    )
    assert Target.objects.get(pk=target_pk).secret == "tok-LEGACY"
    assert SandboxReceiver.objects.get(pk=receiver_pk).secret == "k3y-LEGACY"
