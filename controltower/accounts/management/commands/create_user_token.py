"""`manage.py create_user_token USERNAME`: print a new personal API token, alone on stdout."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from controltower.accounts.models import User
from controltower.accounts.services import personal_token_create


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it (only the token) on stdout."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help="Lifetime in days (default: PERSONAL_TOKEN_DEFAULT_DAYS; 0 = never expires).",
        )

    def handle(self, *args, **options):
        try:
            user = User.objects.get(username=options["username"], is_active=True)
        except User.DoesNotExist as exc:
            raise CommandError(f"No active user named {options['username']!r}.") from exc
        days = options["expires_days"]
        if days is not None and days < 0:
            raise CommandError("--expires-days must be 0 or more.")
        expires_in = True if days is None else (timedelta(days=days) if days else None)
        _, plaintext = personal_token_create(user=user, name=options["name"], expires_in=expires_in)
        self.stdout.write(plaintext)
