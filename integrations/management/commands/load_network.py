"""`manage.py load_network FILE`: plants, suppliers and systems from YAML or JSON, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from integrations.services.network import network_load


class Command(BaseCommand):
    help = "Load (or update) the network from a YAML or JSON file. All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        path: Path = options["file"]
        try:
            text = path.read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        try:
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise CommandError(
                f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
            ) from exc
        try:
            counts = network_load(document=document)
        except ValidationError as exc:
            raise CommandError(f"{path}: {'; '.join(exc.messages)}") from exc
        self.stdout.write(
            f"Loaded {counts['plants']} plants, {counts['suppliers']} suppliers, {counts['systems']} systems."
        )
