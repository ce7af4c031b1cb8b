"""`manage.py rekey_identifiers KIND [--system CODE]`: re-key events after a rule change, now.

The admin queues this work itself when a rule is saved; the command is for when the broker
was down at that moment, or to re-key after rules were loaded straight into the database.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from controltower.traces.models import CORRELATING_KINDS
from controltower.traces.services.rekeying import identifiers_rekey
from integrations.models import SourceSystem


class Command(BaseCommand):
    help = "Move correlated events to the keys the current identifier rules give."

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=CORRELATING_KINDS)
        parser.add_argument("--system", help="Only events from this system (code); default: every system.")

    def handle(self, *args, kind: str, system: str | None, **options) -> None:
        system_id = None
        if system:
            found = SourceSystem.objects.filter(code=system).values_list("id", flat=True).first()
            if found is None:
                raise CommandError(f"No system with code {system!r}.")
            system_id = found
        moved = identifiers_rekey(kind=kind, system_id=system_id)
        self.stdout.write(f"{moved} event(s) re-keyed.")
