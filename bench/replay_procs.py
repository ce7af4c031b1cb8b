"""Child processes of the replay benchmark: the sandbox receiver's web server and the Celery
workers, started the way production starts them, plus CPU accounting from /proc.

Nothing here imports Django: the parent passes the environment (`child_env`) and every child
configures itself from it, as a deployed process would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(*, database_url: str, redis_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off) on the benchmark's own database and Redis db. The sweeper
    only runs under beat (not started), and its grace is an hour so nothing re-sends behind the
    workers' backs even if it did."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controltower.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-replay-only-" + "x" * 40,
        "FIELD_ENCRYPTION_KEY": "YmVuY2gtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleSE=",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "CONTROLTOWER_DATA_DIR": data_dir,
        "CONTROLTOWER_DELIVERY_SWEEP_GRACE": "3600",
        # The production defaults, whatever this shell has: persistent connections, no pool
        # (the receiver turns the pool on for itself).
        "DATABASE_CONN_MAX_AGE": "60",
        "DATABASE_POOL": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    env.update(extra)
    return env


@dataclass
class Child:
    """A started process with its log file."""

    name: str
    proc: subprocess.Popen
    log_path: Path
    _log: object = field(repr=False, default=None)

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
        log_path = log_dir / f"{name}.log"
        log = log_path.open("ab")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return cls(name=name, proc=proc, log_path=log_path, _log=log)

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def pids(self) -> list[int]:
        """This process and its descendants (prefork children, server workers)."""
        found, queue = [], [self.proc.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            try:
                tasks = Path(f"/proc/{pid}/task").iterdir()
                for task in tasks:
                    queue += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        return found


RECEIVER_SERVERS = ("uvicorn", "gunicorn")


def start_receiver(*, server: str, workers: int, env: dict[str, str], log_dir: Path) -> tuple[Child, str]:
    """The real ASGI app serving `/sandbox/<code>/` on a free port; returns it and its base URL.

    uvicorn: `uvicorn controltower.asgi:application --workers N`; gunicorn: its native ASGI
    worker (`-k asgi`). Both with a psycopg pool (DATABASE_POOL=1): under ASGI every request's
    sync code runs in a fresh thread, so CONN_MAX_AGE would reconnect per request.
    """
    port = free_port()
    env = {**env, "DATABASE_POOL": "1", "DATABASE_POOL_MAX_SIZE": "4"}
    if server == "uvicorn":
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "controltower.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ]
    else:
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "controltower.asgi:application",
            "-k",
            "asgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--asgi-lifespan",
            "off",
        ]
    child = Child.start(f"receiver-{server}-{port}", args, env, log_dir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise SystemExit(f"the receiver server exited at start:\n{child.tail()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return child, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    child.stop()
    raise SystemExit(f"the receiver server did not answer /healthz within 60 s:\n{child.tail()}")


CELERY_SHAPES = {
    "c2": "one `celery worker -Q delivery,replay --concurrency=2` (prefork: 2 worker processes)",
    "2x1": "two `celery worker -Q delivery,replay --concurrency=1` (1 worker process each)",
}


def start_workers(
    *,
    shape: str,
    env: dict[str, str],
    log_dir: Path,
    broker_ping,
    loglevel: str = "WARNING",
    app: str = "controltower",
) -> list[Child]:
    """Celery workers on the delivery and replay queues, as `CELERY_SHAPES[shape]` says; returns
    once each answers a control ping (`broker_ping(hostnames) -> set of answering names`)."""
    layout = [2] if shape == "c2" else [1, 1]
    children, names = [], []
    for number, concurrency in enumerate(layout, start=1):
        hostname = f"bench-replay-{number}-{os.getpid()}@{socket.gethostname()}"
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-Q",
            f"{env.get('CELERY_QUEUE_DELIVERY', 'delivery')},{env.get('CELERY_QUEUE_REPLAY', 'replay')}",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname={hostname}",
        ]
        children.append(Child.start(f"worker-{number}", args, env, log_dir))
        names.append(hostname)
    deadline = time.monotonic() + 90
    waiting = set(names)
    while waiting and time.monotonic() < deadline:
        for child in children:
            if child.proc.poll() is not None:
                raise SystemExit(f"a Celery worker exited at start:\n{child.tail()}")
        waiting -= broker_ping(sorted(waiting))
        time.sleep(0.3)
    if waiting:
        for child in children:
            child.stop()
        raise SystemExit(f"Celery workers {sorted(waiting)} did not answer a ping within 90 s")
    return children


# --- CPU accounting ----------------------------------------------------------------------------
# A reader gives CPU seconds used so far, per process (or per whatever it counts).
Reader = Callable[[], dict[int, float]]


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat fields after the command name (state, ppid, ...); None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_of(pid: int) -> float | None:
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def processes(lister: Callable[[], list[int]]) -> Reader:
    """CPU of the processes `lister` names (asked at every sample)."""

    def read() -> dict[int, float]:
        return {pid: cpu for pid in lister() if (cpu := _cpu_of(pid)) is not None}

    return read


def _scan(match: Callable[[Path], bool]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if match(entry):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def postgres_backends(database: str) -> Callable[[], list[int]]:
    """A lister of the PostgreSQL backends serving `database` (by their process title, e.g.
    "postgres: 15/main: postgres ct_bench_replay 127.0.0.1(43816) idle"): other databases'
    work on a shared machine is not ours."""
    marker = f" {database} ".encode()
    return lambda: _scan(lambda entry: marker in (entry / "cmdline").read_bytes())


def pids_named(name: str) -> Callable[[], list[int]]:
    """A lister of the processes whose command name is `name` (e.g. "redis-server")."""
    return lambda: _scan(lambda entry: (entry / "comm").read_text().strip() == name)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


class CpuMeter(threading.Thread):
    """CPU used between `start` and `stop` by named groups (each a `Reader`), sampled every
    `interval` s so processes that start or exit in between count (one that exits loses at most
    its last interval); and how busy the whole machine was (0..1 of all its cores)."""

    def __init__(self, groups: dict[str, Reader], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.groups, self.interval = groups, interval
        self.used: dict[str, float] = {}
        self.machine_busy = 0.0
        self._first: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._halt = threading.Event()

    def _sample(self) -> None:
        for name, read in self.groups.items():
            for key, cpu in read().items():
                self._first[name].setdefault(key, cpu)
                self._last[name][key] = cpu

    def start(self) -> CpuMeter:
        self._sample()
        self._machine = machine_cpu()
        super().start()
        return self

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self._sample()

    def stop(self) -> CpuMeter:
        self._halt.set()
        self.join()
        self._sample()
        for name in self.groups:
            self.used[name] = sum(self._last[name][key] - first for key, first in self._first[name].items())
        busy, total = machine_cpu()
        elapsed = total - self._machine[1]
        self.machine_busy = (busy - self._machine[0]) / elapsed if elapsed else 0.0
        return self


class PgActivity:
    """Counters of one database from `pg_stat_database` between `start` and `stop`: sessions
    opened, transactions committed, rows inserted and updated. Read over one connection held
    open throughout (so reading adds no session); backends flush their counters within about
    a second, so `stop` waits that long first."""

    FIELDS = ("sessions", "xact_commit", "tup_inserted", "tup_updated")

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self.delta: dict[str, int] = {}

    def _read(self) -> dict[str, int]:
        row = self._conn.execute(
            f"SELECT {', '.join(self.FIELDS)} FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return dict(zip(self.FIELDS, row, strict=True))

    def start(self) -> PgActivity:
        time.sleep(1.1)
        self._before = self._read()
        return self

    def stop(self) -> PgActivity:
        time.sleep(1.1)
        after = self._read()
        self.delta = {name: after[name] - self._before[name] for name in self.FIELDS}
        self._conn.close()
        return self
