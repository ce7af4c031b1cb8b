"""`manage.py load_demo`: the demo plants, suppliers and one user per role; prints the logins."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from controltower.web.demo import demo_load


class Command(BaseCommand):
    help = "Load (or refresh) the demo network and demo users. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=None, help="Demo password (default: DEMO_PASSWORD).")
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where this app serves, for the sandbox delivery targets (default: %(default)s).",
        )

    def handle(self, *args, **options):
        password = options["password"] or settings.DEMO_PASSWORD
        users = demo_load(password=password, base_url=options["base_url"])
        if options["quiet"]:
            return
        self.stdout.write(f"Demo logins (password: {password}):")
        for demo in users:
            self.stdout.write(f"  {demo.username:<11} {demo.role.value:<18} {demo.description}")
