"""`manage.py reencrypt_secrets`: re-encrypt stored secrets with the first FIELD_ENCRYPTION_KEY.

The last step of a key rotation (controltower/encryption.py): after it, the old keys may go."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from controltower.encryption import SecretUnreadable, secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        try:
            counts = secrets_reencrypt()
        except SecretUnreadable as exc:
            raise CommandError(f"{exc} Nothing was changed.") from exc
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count} re-encrypted")
