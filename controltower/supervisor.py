"""A small process supervisor for `make run` (`manage.py run_tower`).

honcho, which `make run` used before, stops every process as soon as one exits: one worker crash
and the web server went with it. This keeps the processes of the `Procfile` running:

- each program runs in its own session (Ctrl-C reaches only the supervisor, which stops them in
  order) and writes its whole output to `<log_dir>/<name>.log`;
- a program that dies is started again after a backoff (1 s, doubling to 30 s, back to 1 s once
  it has run for a minute), and the console gets one line saying so, with the log's last line;
- a program that exits with status 0 has finished on purpose (the simulator with `--duration`)
  and is not started again;
- the console is left for what a person needs: the banner, restarts, and one activity line a
  minute (written by the caller).

No Django here: the command in `controltower/web/management/commands/run_tower.py` adds the
banner and the activity line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


@dataclass(frozen=True)
class Program:
    name: str
    command: str  # a shell command line, as in a Procfile (`${VAR:-default}` works)


def procfile_read(path: Path) -> list[Program]:
    """The programs of a Procfile (`name: command` lines; `#` comments and blanks skipped)."""
    programs = []
    for line in path.read_text().splitlines():
        match = _PROCFILE_LINE.match(line.strip())
        if match and not line.lstrip().startswith("#"):
            programs.append(Program(match.group(1), match.group(2).strip()))
    return programs


def dotenv_read(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a `.env` file (as honcho read them for `make run`); quotes stripped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass
class _Running:
    program: Program
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = BACKOFF_START_SECONDS
    restarts: int = 0
    finished: bool = False
    log_file: TextIO | None = field(default=None, repr=False)


class Supervisor:
    """Start `programs`, keep them running, stop them all on `stop()`."""

    def __init__(
        self,
        programs: Iterable[Program],
        *,
        log_dir: Path,
        console: TextIO,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        backoff_start: float = BACKOFF_START_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
    ) -> None:
        self.log_dir = log_dir
        self.console = console
        self.env = env if env is not None else dict(os.environ)
        self.cwd = cwd
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.running = {p.name: _Running(p, backoff=backoff_start) for p in programs}
        self.restarts_total = 0
        self._stopping = False

    # --- console -----------------------------------------------------------------------------
    def say(self, message: str) -> None:
        self.console.write(f"{datetime.now():%H:%M:%S}  {message}\n")
        self.console.flush()

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _last_log_line(self, name: str) -> str:
        try:
            with self.log_path(name).open("rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
                lines = [ln for ln in handle.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip()[:160] if lines else ""

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for state in self.running.values():
            self._spawn(state)

    def _spawn(self, state: _Running) -> None:
        if state.log_file is None:
            state.log_file = self.log_path(state.program.name).open("a", buffering=1)
        state.log_file.write(
            f"--- {datetime.now().isoformat(timespec='seconds')} starting: {state.program.command}\n"
        )
        state.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {state.program.command}"],
            stdin=subprocess.DEVNULL,
            stdout=state.log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            # Its own session: Ctrl-C in the terminal reaches the supervisor only, which then
            # stops everything in order; a program's children go with it (killpg).
            start_new_session=True,
        )
        state.started_at = time.monotonic()
        state.restart_at = None

    def poll(self) -> None:
        """Notice programs that exited, and start again those whose backoff has passed."""
        now = time.monotonic()
        for state in self.running.values():
            if state.finished or self._stopping:
                continue
            if state.process is not None and state.restart_at is None:
                code = state.process.poll()
                if code is None:
                    continue
                self._exited(state, code, now)
            elif state.restart_at is not None and now >= state.restart_at:
                state.restarts += 1
                self.restarts_total += 1
                self._spawn(state)

    def _exited(self, state: _Running, code: int, now: float) -> None:
        name = state.program.name
        lasted = now - state.started_at
        # What it left behind (a worker's pool processes) goes with it before a new one starts.
        _signal_group(state.process, signal.SIGKILL)
        if code == 0:
            state.finished = True
            self.say(f"{name} finished (exit 0 after {_duration(lasted)})")
            return
        if lasted >= STABLE_AFTER_SECONDS:
            state.backoff = self.backoff_start
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = self._last_log_line(name)
        self.say(
            f"{name} {how} after {_duration(lasted)}; restarting in {state.backoff:g} s"
            f" (log: {self.log_path(name)}{': ' + last if last else ''})"
        )
        state.restart_at = now + state.backoff
        state.backoff = min(state.backoff * 2, self.backoff_max)

    def run(
        self, *, until: Callable[[], bool], every: float = 0.2, tick: Callable[[], None] | None = None
    ) -> None:
        """Poll until `until()` is true; `tick()` runs on each pass (banner, activity line)."""
        while not until():
            self.poll()
            if tick is not None:
                tick()
            time.sleep(every)

    def alive(self, name: str) -> bool:
        state = self.running[name]
        return state.process is not None and state.process.poll() is None

    def stop(self, *, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM every program (its main process only: a Celery worker stops its own pool and
        puts unacknowledged tasks back), SIGKILL the process groups of those left after `timeout`."""
        self._stopping = True
        live = [s for s in self.running.values() if s.process is not None and s.process.poll() is None]
        for state in live:
            state.process.terminate()
        deadline = time.monotonic() + timeout
        for state in live:
            try:
                state.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{state.program.name} did not stop within {timeout:g} s; killing it")
                _signal_group(state.process, signal.SIGKILL)
                state.process.wait()
        for state in self.running.values():
            if state.process is not None:  # children a program left behind (a pool, a reloader)
                _signal_group(state.process, signal.SIGKILL)
        for state in self.running.values():
            if state.log_file is not None:
                state.log_file.close()
                state.log_file = None


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
