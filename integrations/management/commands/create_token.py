"""`manage.py create_token SYSTEM_CODE`: print a new system token, alone on stdout.

With `--kind` (and `--plant` or `--supplier`) an unknown system is registered first, so
onboarding a new source is one command.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from controltower.masterdata.models import Plant, Supplier
from integrations.models import SourceSystem
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create


class Command(BaseCommand):
    help = "Create an API token for a source system and print it (only the token) on stdout."

    def add_arguments(self, parser):
        parser.add_argument("system_code")
        parser.add_argument("--kind", choices=SourceSystem.Kind.values, help="Register the system if new.")
        parser.add_argument("--name", help="System name when registering (default: the code).")
        parser.add_argument("--plant", help="Plant code the new system belongs to.")
        parser.add_argument("--supplier", help="Supplier code the new system belongs to.")
        parser.add_argument("--token-name", default="default", help="What this token is for.")
        parser.add_argument("--expires-days", type=int, default=0, help="0 (default) = never expires.")
        parser.add_argument(
            "--rate-limit", type=int, default=None, help="Requests per minute for this token."
        )

    def handle(self, *args, **options):
        code = options["system_code"]
        system = SourceSystem.objects.filter(code=code).first()
        if system is None:
            if not options["kind"]:
                raise CommandError(
                    f"No system {code!r}. Pass --kind (and --plant/--supplier) to register it."
                )
            system = self._register(code, options)
        if options["expires_days"] < 0:
            raise CommandError("--expires-days must be 0 or more.")
        expires = timedelta(days=options["expires_days"]) if options["expires_days"] else None
        _, plaintext = system_token_create(
            system=system,
            name=options["token_name"],
            expires_in=expires,
            rate_limit_per_minute=options["rate_limit"],
        )
        self.stdout.write(plaintext)

    def _register(self, code: str, options) -> SourceSystem:
        def find(model, value, flag):
            if not value:
                return None
            found = model.objects.filter(code=value).first()
            if found is None:
                raise CommandError(f"{flag} {value!r} is not a registered {model._meta.verbose_name}.")
            return found

        plant = find(Plant, options["plant"], "--plant")
        supplier = find(Supplier, options["supplier"], "--supplier")
        try:
            return system_upsert(
                code=code, name=options["name"] or code, kind=options["kind"], plant=plant, supplier=supplier
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
