"""Soak: the demo of `make run` under the simulator at 10x its default rate, for half an hour.

    make soak                      (SOAK_MINUTES=30; or: .venv/bin/python bench/soak.py --help)

Runs exactly what `make run` runs (`manage.py run_tower`: web, worker, beat, simulator, with
DEBUG off) in its own data folder (`var/soak/`, recreated: SQLite file, embedded broker, logs),
on a free port, with the simulator sending 60 flows a minute (default 6) for `--minutes`.
Then it lets the tower work off its backlog (up to `--drain-minutes`), stops it (Ctrl-C, as a
person would) and checks the stopped tower — database, broker folder, logs:

- **crashes**: programs that exited without being asked to (the supervisor's "exited"/"killed"
  lines), and "Unrecoverable error"/CRITICAL lines in any log;
- **restarts**: how many times the supervisor started a program again;
- **lost**, each counted separately — work that no task will ever do:
  - *events not stored*: events the API answered as accepted (the simulator's tally) beyond the
    events in the database;
  - *events uncorrelated without a task*: events received more than 3 minutes before the stop
    (the correlation sweeper runs every minute) with no `CorrelatedEvent` row, no correlation
    task for them in the broker and no correlation sweep queued;
  - *deliveries overdue without a task*: pending or retrying deliveries due longer than the
    sweeper's grace plus two sweep periods before the stop, with no `deliver`, `deliver_batch`
    or `dispatch` message for them in the broker and no delivery sweep queued;
  - *messages quarantined* (unreadable) or *half-written* (left in `staging/`).
- **backlog** (reported, not a failure): task messages still queued when the drain ended — each
  runs when a worker gets to it — with what they cover.

Prints the figures (and writes them to `<data dir>/report.json`); exits 1 on any crash, restart
or lost item, so CI or a person sees a failure at once. Uses DATABASE_URL/REDIS_URL when set
(as `make run` would); unset, it soaks the embedded defaults.
"""

from __future__ import annotations

import argparse
import base64
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
    parser.add_argument(
        "--measure-only", action="store_true", help="Only measure the stopped soak in --data-dir."
    )
    args = parser.parse_args()
    if args.measure_only:
        data_dir = Path(args.data_dir).resolve()
        os.environ["CONTROLTOWER_DATA_DIR"] = str(data_dir)
        os.environ.setdefault("DEBUG", "0")
        console_path = data_dir / "console.log"
        console = console_path.read_text().splitlines()
        from datetime import UTC, datetime

        stopped_at = datetime.fromtimestamp(console_path.stat().st_mtime, tz=UTC)
        return _verdict(data_dir, _measure(data_dir, console, stopped_at=stopped_at))

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
    field_key = data_dir / "field-encryption-key"
    field_key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    field_key.chmod(0o600)
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
        drain_seconds = round(time.monotonic() - sim_done)
    finally:
        if tower.poll() is None:
            tower.send_signal(signal.SIGINT)
            try:
                tower.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tower.kill()
        reader.join(timeout=5)
    report = _measure(data_dir, console, stopped_at=timezone_now())
    report.update(
        minutes=args.minutes,
        flows_per_minute=flows,
        drain_seconds=drain_seconds,
        settled=settled,
        wall_seconds=round(time.monotonic() - started),
    )
    return _verdict(data_dir, report)


def _verdict(data_dir: Path, report: dict) -> int:
    (data_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    failed = report["crashes"] or report["restarts"] or report["lost_total"]
    if failed:
        print("soak: FAILED")
    else:
        print("soak: passed (0 crashes, 0 restarts, 0 lost)")
    if report["backlog"]["queued_tasks"]:
        # Not lost (each has its task queued, it runs when the worker gets to it), but a sign
        # the worker did not keep up with the simulator on this machine.
        print(f"soak: note: backlog left after the drain: {report['backlog']}")
    return 1 if failed else 0


def timezone_now():
    _django()
    from django.utils import timezone

    return timezone.now()


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


def _queued_tasks(broker_dir: Path) -> dict[str, object]:
    """The task messages still in the broker (queued or held by a consumer): per task name, how
    many, and the delivery and event ids they will act on."""
    import base64

    counts: dict[str, int] = {}
    deliveries: set[int] = set()
    events: set[int] = set()
    # A queued sweep will re-queue whatever it finds without a task: that work is not lost.
    sweeps = {"integrations.delivery.sweep": 0, "controltower.traces.correlate_pending": 0}
    for path in [*broker_dir.glob("*.msg"), *broker_dir.glob("claimed/*/*.msg")]:
        try:
            message = json.loads(path.read_bytes())
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        except (OSError, ValueError, KeyError):
            continue  # claimed and acknowledged meanwhile
        task = message["headers"]["task"]
        counts[task] = counts.get(task, 0) + 1
        if task == "integrations.delivery.deliver":
            deliveries.add(int(kwargs.get("delivery_id", args[0] if args else 0)))
        elif task == "integrations.delivery.deliver_batch":
            deliveries.update(kwargs.get("delivery_ids", args[0] if args else []))
        elif task in ("integrations.delivery.dispatch", "controltower.traces.correlate"):
            events.update(kwargs.get("event_ids", args[0] if args else []))
        elif task in sweeps:
            sweeps[task] += 1
    return {"counts": counts, "deliveries": deliveries, "events": events, "sweeps": sweeps}


def _measure(data_dir: Path, console: list[str], *, stopped_at) -> dict[str, object]:
    """Crashes, restarts and lost work of a stopped soak (see the module docstring)."""
    _django()
    from django.conf import settings
    from django.db.models import Count, Q

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

    broker_dir = data_dir / "celery-broker"
    queued = _queued_tasks(broker_dir)
    # Due long enough before the stop that the sweeper (grace + two periods) would have queued
    # them again had their task been lost.
    grace = settings.CONTROLTOWER_DELIVERY_SWEEP_GRACE
    period = settings.CELERY_BEAT_SCHEDULE["delivery-sweep"]["schedule"]
    overdue = Delivery.objects.filter(
        status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING),
        next_attempt_at__lt=stopped_at - timedelta(seconds=grace + 2 * period),
    )
    overdue_ids = set(overdue.values_list("id", flat=True))
    covered = set(
        overdue.filter(Q(id__in=queued["deliveries"]) | Q(event_id__in=queued["events"])).values_list(
            "id", flat=True
        )
    )
    uncorrelated = Event.objects.exclude(id__in=CorrelatedEvent.objects.values("event_id"))
    stale_uncorrelated = set(
        uncorrelated.filter(received_at__lt=stopped_at - timedelta(minutes=3)).values_list("id", flat=True)
    )
    events = Event.objects.count()
    orphan_events = stale_uncorrelated - queued["events"]
    orphan_deliveries = overdue_ids - covered
    events_swept = queued["sweeps"]["controltower.traces.correlate_pending"] > 0
    deliveries_swept = queued["sweeps"]["integrations.delivery.sweep"] > 0
    lost = {
        "events_not_stored": max(0, sim_accepted - events),
        "events_uncorrelated_without_task": 0 if events_swept else len(orphan_events),
        "deliveries_overdue_without_task": 0 if deliveries_swept else len(orphan_deliveries),
        "messages_quarantined": len(list((broker_dir / "quarantine").glob("*"))),
        "messages_half_written": len(list((broker_dir / "staging").glob("*"))),
    }
    statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("id")))
    return {
        "crashes": len(exits) + fatal,
        "crash_lines": exits[:20],
        "fatal_log_lines": fatal,
        "restarts": restarts,
        "lost_total": sum(lost.values()),
        "lost": lost,
        "backlog": {
            "queued_tasks": sum(queued["counts"].values()),
            "held_by_stopped_processes": _dead_claims(broker_dir),
            "by_task": queued["counts"],
            "uncorrelated_events": uncorrelated.count(),
            "deliveries_due_with_task_queued": len(covered),
            "awaiting_a_queued_sweep": {
                "events": len(orphan_events) if events_swept else 0,
                "deliveries": len(orphan_deliveries) if deliveries_swept else 0,
            },
        },
        "events_accepted_by_api": sim_accepted,
        "events_stored": events,
        "rejected_messages": RejectedMessage.objects.count(),
        "deliveries": statuses,
        "activity_lines": [line for line in console if "last minute" in line],
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
