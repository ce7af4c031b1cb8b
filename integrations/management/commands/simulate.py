"""`manage.py simulate`: stream a live demo network's traffic into a running control tower.

Loads the demo network (idempotent), gives every demo system a fresh "simulator" token
(revoking the previous ones, so they do not pile up), waits for `GET /healthz`, then posts
procure-to-receive, make and order-to-ship flows through the public HTTP API until stopped.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from integrations.models import SourceSystem, SystemToken
from integrations.services.network import network_load
from integrations.services.tokens import system_token_create
from integrations.simulator.model import FaultMix
from integrations.simulator.network import demo_network
from integrations.simulator.runner import Simulator

TOKEN_NAME = "simulator"
# One option per FaultMix field (--out-of-order sets out_of_order); defaults are FaultMix's.
FAULT_FIELDS = tuple(FaultMix.__dataclass_fields__)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def probability(text: str) -> float:
    """An argparse type: a probability between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Simulate a manufacturer's integration traffic against a running control tower (Ctrl-C stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the running tower.")
        parser.add_argument("--flows-per-minute", type=float, default=6.0, help="New flows per real minute.")
        parser.add_argument(
            "--speed",
            type=float,
            default=60.0,
            help="Simulated seconds per real second (60: a 2-hour flow takes 2 minutes).",
        )
        parser.add_argument(
            "--seed", type=int, help="Reproduce a run (the same seed sends the same messages)."
        )
        parser.add_argument("--flows", type=int, help="Stop after this many flows are completely sent.")
        parser.add_argument("--duration", type=float, help="Stop after this many seconds.")
        parser.add_argument("--wait", type=float, default=60.0, help="Seconds to wait for GET /healthz.")
        parser.add_argument(
            "--epcis-share",
            type=probability,
            default=0.2,
            help="Share of procure-to-receive flows whose ASNs are EPCIS documents.",
        )
        parser.add_argument("--no-batch", action="store_true", help="Send every CloudEvent on its own.")
        parser.add_argument("--log-every", type=float, default=15.0, help="Seconds between progress lines.")
        defaults = FaultMix()
        for name in FAULT_FIELDS:
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                type=probability,
                default=getattr(defaults, name),
                help=f"Per-flow probability (default {getattr(defaults, name)}).",
            )
        parser.add_argument("--no-faults", action="store_true", help="Inject no faults at all.")

    def handle(self, *args, **options) -> None:
        if options["flows"] is not None and options["flows"] < 1:
            raise CommandError("--flows must be at least 1.")
        url = options["url"].rstrip("/")
        seed = options["seed"] if options["seed"] is not None else secrets.randbits(32)
        faults = (
            FaultMix.none()
            if options["no_faults"]
            else FaultMix(**{name: options[name] for name in FAULT_FIELDS})
        )
        try:
            counts = network_load(document=demo_network())
        except ValidationError as exc:
            raise CommandError(f"The demo network does not load: {'; '.join(exc.messages)}") from exc
        tokens = self._tokens()
        with _quiet("httpx"):  # it logs every request at INFO; the progress line says it better
            self._wait_for(url, options["wait"])
            self.stdout.write(
                f"Simulating {counts['systems']} systems against {url}: {options['flows_per_minute']:g} flows/min "
                f"at speed {options['speed']:g}, seed {seed}"
                + (", no faults" if options["no_faults"] else "")
            )
            simulator = Simulator(
                url,
                tokens,
                random.Random(seed),
                flows_per_minute=options["flows_per_minute"],
                speed=options["speed"],
                faults=faults,
                batch=not options["no_batch"],
                epcis_share=options["epcis_share"],
                max_flows=options["flows"],
                duration=options["duration"],
                log=self.stdout.write,
                log_every=options["log_every"],
                verbose=options["verbosity"] >= 2,
            )
            stats = simulator.run()
        self.stdout.write(stats.summary())

    @transaction.atomic
    def _tokens(self) -> dict[str, str]:
        """A fresh simulator token per demo system; earlier simulator tokens are revoked.

        Plaintext tokens are never stored, so a run cannot reuse the previous run's.
        """
        codes = [system["code"] for system in demo_network()["systems"]]
        SystemToken.objects.filter(system__code__in=codes, name=TOKEN_NAME, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        return {
            system.code: system_token_create(system=system, name=TOKEN_NAME)[1]
            for system in SourceSystem.objects.filter(code__in=codes)
        }

    def _wait_for(self, url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        announced = False
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not up yet
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"{url}/healthz did not answer within {seconds:g}s; is the server running?"
                )
            if not announced:
                self.stdout.write(f"Waiting for {url}/healthz …")
                announced = True
            time.sleep(0.5)
