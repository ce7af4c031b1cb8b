"""Secrets at rest: a model field that stores its text encrypted with a key from the environment.

Target credentials (bearer tokens, basic passwords, HMAC keys) and sandbox secrets are needed in
clear by the code that sends or checks them, so they cannot be hashed; they are encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) instead. A database dump or a read-only
SQL session then shows tokens like `gAAAAA…`, useless without `FIELD_ENCRYPTION_KEY`.

Keys come from `settings.FIELD_ENCRYPTION_KEYS` (env `FIELD_ENCRYPTION_KEY`, comma-separated, or
`FIELD_ENCRYPTION_KEY_FILE`). The first key encrypts; every key decrypts (`MultiFernet`). To
rotate: put a new key first, keep the old ones after it, deploy, run
`manage.py reencrypt_secrets`, then drop the old keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class SecretUnreadable(ImproperlyConfigured):
    """A stored secret was encrypted with a key that is not among FIELD_ENCRYPTION_KEYS."""


def key_generate() -> str:
    return Fernet.generate_key().decode()


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: set FIELD_ENCRYPTION_KEY.")
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """`plaintext` encrypted with the first key, as ASCII text."""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of `token`, tried with every key; SecretUnreadable when none fits."""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEY "
            "(was a key removed before `manage.py reencrypt_secrets` ran?)."
        ) from None


def rotate(token: str) -> str:
    """`token` re-encrypted with the first key (whichever key encrypted it)."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEY."
        ) from None


class EncryptedTextField(models.TextField):
    """Text encrypted at rest; Python code reads and writes plaintext.

    `max_length` limits the plaintext (forms and serializers check it); the column is `text`,
    as a ciphertext is longer. The empty string stays empty, so "no secret" needs no key.
    Fernet tokens differ on every write, so the field cannot be searched or compared in SQL.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name):
        # A ciphertext cannot be compared by content; `secret=""` and `secret__isnull` still work
        # (the empty string is stored as is).
        if lookup_name not in ("exact", "isnull"):
            return None
        return super().get_lookup(lookup_name)


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) of the installed apps that stores an encrypted secret."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def column_encrypt(*, connection, table: str, column: str, transform) -> int:
    """Rewrite `column` of `table` in place with `transform(value)` for every non-empty value,
    in raw SQL (so migrations and rotation see what is stored, not the field's decryption).
    Returns how many rows changed."""
    quote = connection.ops.quote_name
    changed = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {quote(column)} FROM {quote(table)} WHERE {quote(column)} <> ''")
        for pk, value in cursor.fetchall():
            new = transform(value)
            if new != value:
                cursor.execute(f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE id = %s", [new, pk])
                changed += 1
    return changed


def secrets_reencrypt() -> dict[str, int]:
    """Re-encrypt every stored secret with the first key, in one transaction.

    Contract: afterwards every non-empty encrypted column decrypts with the first key alone, so
    the older keys may be dropped; {"<app_label>.<model>.<field>": rows rewritten}. A secret no
    key decrypts stops it (SecretUnreadable) with nothing changed."""
    from django.db import connection, transaction

    counts = {}
    with transaction.atomic():
        for model, field in encrypted_fields():
            counts[f"{model._meta.label}.{field.name}"] = column_encrypt(
                connection=connection, table=model._meta.db_table, column=field.column, transform=rotate
            )
    return counts


class WriteOnlySecretsForm(forms.ModelForm):
    """A model form whose `secret_fields` are write-only: the page never holds the stored value
    (a password input, rendered empty), and a field left empty keeps the current secret."""

    secret_fields: tuple[str, ...] = ("secret",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields.get(name)
            if field is None:
                continue
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            field.required = False
            if self.instance.pk and getattr(self.instance, name):
                field.help_text = f"{field.help_text} A secret is set; leave empty to keep it."

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if name in self.fields and not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned
