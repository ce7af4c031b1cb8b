"""`manage.py run_tower`: what `make run` runs — web, worker, beat and simulator, kept alive.

The programs and their command lines are the `Procfile`'s (change the web server there). Every
program's output goes to `var/log/<name>.log`; the console shows the banner once the web server
answers `/readyz`, one line when a program dies and is restarted, and one activity line a minute.
Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from controltower.supervisor import Supervisor, dotenv_read, procfile_read
from controltower.web.demo import DEMO_USERS

READY_WAIT_SECONDS = 180.0


class Command(BaseCommand):
    help = "Run web, worker, beat and simulator (the Procfile), restarting any that dies; Ctrl-C stops."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
        parser.add_argument("--procfile", default=str(settings.BASE_DIR / "Procfile"))
        parser.add_argument(
            "--only", default="", help="Comma-separated program names to run (default: all in the Procfile)."
        )
        parser.add_argument("--log-dir", default=str(settings.DATA_DIR / "log"))
        parser.add_argument(
            "--activity-every", type=float, default=60.0, help="Seconds between activity lines (0: none)."
        )
        parser.add_argument("--stop-after", type=float, help="Stop everything after this many seconds.")

    def handle(self, *args, **options):
        programs = procfile_read(Path(options["procfile"]))
        if options["only"]:
            wanted = {name.strip() for name in options["only"].split(",") if name.strip()}
            unknown = wanted - {p.name for p in programs}
            if unknown:
                raise CommandError(f"not in the Procfile: {', '.join(sorted(unknown))}")
            programs = [p for p in programs if p.name in wanted]
        host, port = options["host"], options["port"]
        base_url = f"http://{host}:{port}"
        # A `.env` beside the Procfile wins over the shell, as it did under honcho.
        env = {**os.environ, **dotenv_read(settings.BASE_DIR / ".env")}
        env.update(HOST=host, WEB_PORT=str(port), PYTHONUNBUFFERED="1")
        # `python`, `celery`, `uvicorn` in the Procfile are this virtualenv's.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        log_dir = Path(options["log_dir"])
        supervisor = Supervisor(
            programs, log_dir=log_dir, console=self.stdout, env=env, cwd=settings.BASE_DIR
        )

        stop_requested = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop_requested.append(True))
        deadline = time.monotonic() + options["stop_after"] if options["stop_after"] else None
        started = time.monotonic()
        names = ", ".join(p.name for p in programs)
        supervisor.say(f"starting {names}; full logs in {_shown(log_dir)}/<name>.log")
        supervisor.start()

        banner = {"shown": "web" not in supervisor.running, "next_probe": 0.0}
        activity = {
            "next": time.monotonic() + options["activity_every"],
            "since": timezone.now(),
            "restarts": 0,
        }

        def tick() -> None:
            now = time.monotonic()
            if not banner["shown"] and now >= banner["next_probe"]:
                banner["next_probe"] = now + 1.0
                waited_out = now - started > READY_WAIT_SECONDS
                if _ready(base_url) or waited_out:
                    banner["shown"] = True
                    self._banner(base_url, log_dir, ready=not waited_out)
            if options["activity_every"] and now >= activity["next"]:
                activity["next"] = now + options["activity_every"]
                since, activity["since"] = activity["since"], timezone.now()
                restarts = supervisor.restarts_total - activity["restarts"]
                activity["restarts"] = supervisor.restarts_total
                supervisor.say(_activity_line(since=since, restarts=restarts))

        try:
            supervisor.run(
                until=lambda: bool(stop_requested) or (deadline is not None and time.monotonic() >= deadline),
                tick=tick,
            )
        finally:
            supervisor.say("stopping …")
            supervisor.stop()
            supervisor.say(f"stopped ({supervisor.restarts_total} restart(s) in {_uptime(started)})")

    def _banner(self, base_url: str, log_dir: Path, *, ready: bool) -> None:
        lines = [
            "",
            f"  Control tower: {base_url}   (API docs: {base_url}/api/docs/)",
            f"  Demo logins (password: {settings.DEMO_PASSWORD}):",
            *(f"    {d.username:<11} {d.role.value:<18} {d.description}" for d in DEMO_USERS),
            f"  Full logs: {_shown(log_dir)}/<name>.log.  One activity line a minute follows.  Stop with Ctrl-C.",
            "",
        ]
        if not ready:
            lines.insert(
                1, f"  Not ready yet after {READY_WAIT_SECONDS:g} s: see {base_url}/readyz and the logs."
            )
        self.stdout.write("\n".join(lines))


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _activity_line(*, since, restarts: int) -> str:
    """Events, rejections and deliveries since `since` (one query each; a database error is
    reported on the line rather than stopping the supervisor)."""
    from integrations.delivery.models import Delivery
    from integrations.models import Event, RejectedMessage

    try:
        accepted = Event.objects.filter(received_at__gte=since).count()
        rejected = RejectedMessage.objects.filter(received_at__gte=since).count()
        delivered = Delivery.objects.filter(delivered_at__gte=since).count()
        dead = Delivery.objects.filter(dead_lettered_at__gte=since).count()
    except Exception as exc:  # noqa: BLE001 — the console reports it and goes on
        return f"activity unavailable ({type(exc).__name__}: {exc}); restarts: {restarts}"
    minutes = max(1, round((timezone.now() - since) / timedelta(minutes=1)))
    span = "last minute" if minutes == 1 else f"last {minutes} minutes"
    return (
        f"{span}: {accepted} events accepted, {rejected} rejected; "
        f"{delivered} deliveries delivered, {dead} dead-lettered; {restarts} restart(s)"
    )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def _uptime(started: float) -> str:
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    return f"{minutes}m{seconds:02d}s"
