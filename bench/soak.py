"""Soak: the demo of `make run` under the simulator at 10x its default rate, for half an hour.

    make soak                      (SOAK_MINUTES=30; or: .venv/bin/python bench/soak.py --help)

Runs exactly what `make run` runs (`manage.py run_tower`: web, worker, beat, simulator, with
DEBUG off) in its own data folder (`var/soak/`, recreated: SQLite file, embedded broker, logs),
on a free port, with the simulator sending 60 flows a minute (default 6) for `--minutes`.
Then it lets the tower work off its backlog (up to `--drain-minutes`; a backlog left after that
fails the soak too, reported apart from what was lost) and checks, from the database and the
broker folder while every process still runs:

- **crashes**: programs that exited without being asked to (the supervisor's "exited"/"killed"
  lines), and "Unrecoverable error"/CRITICAL lines in any log;
- **restarts**: how many times the supervisor started a program again;
- **lost**, each counted separately:
  - *events not stored*: events the API answered as accepted (the simulator's tally) beyond the
    events in the database;
  - *events never correlated*: stored events without a `CorrelatedEvent` row (their correlation
    task and the sweeper's retry both never ran);
  - *deliveries never attempted*: pending or retrying deliveries that have been due for longer
    than the sweeper's grace plus two sweep periods (their task was lost and never re-queued);
  - *tasks never run*: messages still in the broker's queue folder once the worker is idle,
    messages held by dead processes (`claimed/`), and files set aside as unreadable
    (`quarantine/`).

Prints the figures (and writes them to `<data dir>/report.json`); exits 1 on any crash, restart
or lost item, so CI or a person sees a failure at once. Uses DATABASE_URL/REDIS_URL when set
(as `make run` would); unset, it soaks the embedded defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOWS_PER_MINUTE = 6.0
CRASH_LINE = re.compile(r"\b(exited with code|killed by signal)\b")
RESTART_LINE = re.compile(r"restarting in ")
FATAL_LOG = re.compile(r"Unrecoverable error| CRITICAL ")
SIM_TALLY = re.compile(r"(\d+) accepted, (\d+) duplicate, (\d+) rejected")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    parser.add_argument("--rate-factor", type=float, default=10.0, help="Times the simulator's default rate.")
    parser.add_argument(
        "--drain-minutes", type=float, default=15.0, help="Longest wait for the backlog to settle."
    )
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "soak"))
    parser.add_argument("--port", type=int, default=0, help="Web port (default: a free one).")
    args = parser.parse_args()

    data_dir = Path(args.data_dir).resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = args.port or _free_port()
    seconds = int(args.minutes * 60)
    flows = DEFAULT_FLOWS_PER_MINUTE * args.rate_factor
    env = {
        **os.environ,
        "CONTROLTOWER_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        "SIMULATE_ARGS": f"--flows-per-minute {flows:g} --duration {seconds}",
    }
    # `make soak` exports what `make run` does (DEBUG off, plain http on localhost); run directly,
    # the same defaults apply.
    for name, value in {
        "DEBUG": "0",
        "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
    }.items():
        env.setdefault(name, value)
    key = data_dir / "secret-key"
    key.write_text(__import__("secrets").token_urlsafe(64))
    key.chmod(0o600)
    os.environ.update(env)

    manage = [sys.executable, str(ROOT / "manage.py")]
    base_url = f"http://127.0.0.1:{port}"
    subprocess.run([*manage, "migrate", "-v", "0", "--noinput"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "load_demo", "--quiet", "--base-url", base_url], env=env, check=True, cwd=ROOT)
    print(
        f"soak: {args.minutes:g} min at {flows:g} flows/min ({args.rate_factor:g}x) on {base_url}, data in {data_dir}"
    )

    console_path = data_dir / "console.log"
    tower = subprocess.Popen(
        [*manage, "run_tower", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console: list[str] = []
    reader = threading.Thread(target=_copy_console, args=(tower, console, console_path), daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        _wait(
            lambda: any("simulator finished" in line for line in console) or tower.poll() is not None,
            timeout=seconds + 300,
        )
        sim_done = time.monotonic()
        settled = _drain(data_dir, timeout=args.drain_minutes * 60)
        report = _measure(data_dir, console)
        report.update(
            minutes=args.minutes,
            flows_per_minute=flows,
            drain_seconds=round(time.monotonic() - sim_done),
            settled=settled,
            backlog_at_end=_backlog(data_dir),
            wall_seconds=round(time.monotonic() - started),
        )
    finally:
        if tower.poll() is None:
            tower.send_signal(signal.SIGINT)
            try:
                tower.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tower.kill()
        reader.join(timeout=5)

    (data_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    # A backlog still there after the drain is not counted as lost (it may yet run) but fails
    # the soak all the same: the tower did not keep up.
    failed = report["crashes"] or report["restarts"] or report["lost_total"] or not report["settled"]
    print("soak: FAILED" if failed else "soak: passed (0 crashes, 0 restarts, 0 lost, backlog drained)")
    return 1 if failed else 0


def _copy_console(tower: subprocess.Popen, console: list[str], path: Path) -> None:
    with path.open("w") as out:
        for line in tower.stdout:
            console.append(line.rstrip("\n"))
            out.write(line)
            out.flush()
            print(f"  | {line}", end="", flush=True)


def _wait(predicate, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(2)


def _django():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()


def _backlog(data_dir: Path) -> dict[str, int]:
    """What is still to do: uncorrelated events, due deliveries, queued broker messages."""
    _django()
    from django.utils import timezone

    from controltower.traces.models import CorrelatedEvent
    from integrations.delivery.models import Delivery
    from integrations.models import Event

    now = timezone.now()
    return {
        "uncorrelated": Event.objects.exclude(id__in=CorrelatedEvent.objects.values("event_id")).count(),
        "due_deliveries": Delivery.objects.filter(
            status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING), next_attempt_at__lte=now
        ).count(),
        "queued_messages": len(list((data_dir / "celery-broker").glob("*.msg"))),
    }


def _drain(data_dir: Path, *, timeout: float) -> bool:
    """Wait until nothing is left to do (checked twice in a row), or `timeout`."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        backlog = _backlog(data_dir)
        quiet = quiet + 1 if not any(backlog.values()) else 0
        if quiet >= 2:
            return True
        time.sleep(10)
    return False


def _measure(data_dir: Path, console: list[str]) -> dict[str, object]:
    _django()
    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from controltower.traces.models import CorrelatedEvent
    from integrations.delivery.models import Delivery
    from integrations.models import Event, RejectedMessage

    logs = sorted((data_dir / "log").glob("*.log"))
    fatal = sum(len(FATAL_LOG.findall(path.read_text(errors="replace"))) for path in logs)
    exits = [line for line in console if CRASH_LINE.search(line)]
    restarts = sum(1 for line in console if RESTART_LINE.search(line))
    sim_log = data_dir / "log" / "simulator.log"
    tallies = SIM_TALLY.findall(sim_log.read_text(errors="replace")) if sim_log.exists() else []
    sim_accepted = int(tallies[-1][0]) if tallies else 0

    grace = settings.CONTROLTOWER_DELIVERY_SWEEP_GRACE
    period = settings.CELERY_BEAT_SCHEDULE["delivery-sweep"]["schedule"]
    overdue_before = timezone.now() - timedelta(seconds=grace + 2 * period)
    broker_dir = data_dir / "celery-broker"
    events = Event.objects.count()
    lost = {
        "events_not_stored": max(0, sim_accepted - events),
        "events_never_correlated": Event.objects.exclude(
            id__in=CorrelatedEvent.objects.values("event_id")
        ).count(),
        "deliveries_never_attempted": Delivery.objects.filter(
            status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING),
            next_attempt_at__lt=overdue_before,
        ).count(),
        "tasks_never_run_queued": len(list(broker_dir.glob("*.msg"))),
        "tasks_never_run_claimed_by_dead": _dead_claims(broker_dir),
        "tasks_quarantined": len(list((broker_dir / "quarantine").glob("*"))),
    }
    statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("id")))
    return {
        "crashes": len(exits) + fatal,
        "crash_lines": exits[:20],
        "fatal_log_lines": fatal,
        "restarts": restarts,
        "lost_total": sum(lost.values()),
        "lost": lost,
        "events_accepted_by_api": sim_accepted,
        "events_stored": events,
        "rejected_messages": RejectedMessage.objects.count(),
        "deliveries": statuses,
        "activity_lines": [line for line in console if "last minute" in line][-3:],
    }


def _dead_claims(broker_dir: Path) -> int:
    from controltower.broker import _claimer_alive

    claimed = broker_dir / "claimed"
    if not claimed.is_dir():
        return 0
    return sum(
        len(list(folder.glob("*.msg"))) for folder in claimed.iterdir() if not _claimer_alive(folder.name)
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
