"""`make run`'s supervisor (controltower/supervisor.py and `manage.py run_tower`): a program that
dies is restarted and reported while the others keep running; the console gets the banner once
the web answers /readyz, restart lines and activity lines; everything stops on request."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time

import pytest

from controltower.supervisor import Program, Supervisor, dotenv_read, procfile_read
from tests.conftest import ROOT, child_env, free_port, wait_for

PY = sys.executable


def _supervisor(tmp_path, *programs: Program) -> tuple[Supervisor, io.StringIO]:
    console = io.StringIO()
    supervisor = Supervisor(programs, log_dir=tmp_path / "log", console=console, backoff_start=0.2)
    return supervisor, console


def _run_until(supervisor: Supervisor, predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    supervisor.run(until=lambda: predicate() or time.monotonic() > deadline, every=0.05)


def test_a_program_that_dies_is_restarted_and_reported_while_the_others_keep_running(tmp_path):
    flaky = Program("flaky", f"{PY} -c \"print('boom: out of luck'); raise SystemExit(3)\"")
    steady = Program("steady", "sleep 60")
    supervisor, console = _supervisor(tmp_path, flaky, steady)
    supervisor.start()
    steady_pid = supervisor.running["steady"].process.pid
    try:
        _run_until(supervisor, lambda: supervisor.running["flaky"].restarts >= 2)
        assert supervisor.running["flaky"].restarts >= 2
        assert supervisor.alive("steady") and supervisor.running["steady"].process.pid == steady_pid
    finally:
        supervisor.stop(timeout=5)
    lines = console.getvalue().splitlines()
    restarts = [line for line in lines if "flaky exited with code 3" in line]
    assert len(restarts) >= 2
    # One line each: what died, how, when it comes back, and where to look.
    assert re.search(
        r"flaky exited with code 3 after 0s; restarting in 0.2 s \(log: .*flaky.log: boom: out of luck\)",
        restarts[0],
    )
    assert "restarting in 0.4 s" in restarts[1], "the backoff doubles"
    assert (tmp_path / "log" / "flaky.log").read_text().count("boom: out of luck") >= 2
    assert not any("steady" in line for line in lines), "nothing to say about a healthy program"
    assert supervisor.running["steady"].process.poll() is not None, "stop() ended it"


def test_a_program_that_exits_zero_has_finished_and_is_not_restarted(tmp_path):
    supervisor, console = _supervisor(tmp_path, Program("once", "true"))
    supervisor.start()
    try:
        _run_until(supervisor, lambda: supervisor.running["once"].finished, timeout=10)
        time.sleep(0.5)
        supervisor.poll()
    finally:
        supervisor.stop(timeout=5)
    assert supervisor.running["once"].finished and supervisor.restarts_total == 0
    assert "once finished (exit 0 after 0s)" in console.getvalue()


def test_stop_ends_programs_and_what_they_started(tmp_path):
    marker = tmp_path / "grandchild.pid"
    parent = Program("parent", f"sh -c 'sleep 120 & echo $! > {marker}; wait'")
    supervisor, _ = _supervisor(tmp_path, parent)
    supervisor.start()
    wait_for(lambda: marker.exists() and marker.read_text().strip(), timeout=10, what="the grandchild")
    grandchild = int(marker.read_text())
    supervisor.stop(timeout=5)
    wait_for(lambda: not _alive(grandchild), timeout=10, what="the grandchild to be gone")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_procfile_and_dotenv_are_read_as_honcho_read_them(tmp_path):
    (tmp_path / "Procfile").write_text(
        "# comment\nweb: uvicorn app --port ${WEB_PORT:-8000}\n\nworker: celery worker\n"
    )
    (tmp_path / ".env").write_text(
        "# local\nexport LOG_LEVEL=DEBUG\nDEMO_PASSWORD='with spaces'\nnot a line\n"
    )
    assert procfile_read(tmp_path / "Procfile") == [
        Program("web", "uvicorn app --port ${WEB_PORT:-8000}"),
        Program("worker", "celery worker"),
    ]
    assert dotenv_read(tmp_path / ".env") == {"LOG_LEVEL": "DEBUG", "DEMO_PASSWORD": "with spaces"}
    assert procfile_read(ROOT / "Procfile")[0].name == "web", "make run's own Procfile parses"


@pytest.mark.django_db(transaction=True)
def test_run_tower_prints_the_banner_once_ready_then_restarts_and_activity(tmp_path):
    """The command end to end: a stand-in web server whose /readyz answers 200 (a file), a
    program that keeps dying; the console shows banner, restart lines and activity lines, and
    the whole output of each program is in its log file, not on the console."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "readyz").write_text("ok")
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"web: {PY} -m http.server ${{WEB_PORT}} --bind 127.0.0.1 --directory {site}\n"
        f"crashy: {PY} -c \"import sys; print('noisy output ' * 5); sys.exit(2)\"\n"
    )
    port = free_port()
    result = subprocess.run(
        [
            PY,
            "manage.py",
            "run_tower",
            "--procfile",
            str(procfile),
            "--port",
            str(port),
            "--log-dir",
            str(tmp_path / "log"),
            "--activity-every",
            "2",
            "--stop-after",
            "7",
        ],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert f"Control tower: http://127.0.0.1:{port}" in out
    assert "admin" in out and "Demo logins" in out
    assert re.search(r"crashy exited with code 2 after \d+s; restarting in 1 s", out)
    assert re.search(
        r"last minute: 0 events accepted, 0 rejected; 0 deliveries delivered, 0 dead-lettered; \d+ restart",
        out,
    )
    assert "stopped (" in out
    noisy = [line for line in out.splitlines() if "noisy output" in line]
    assert noisy and all("exited with code 2" in line for line in noisy), "output stays in its log"
    assert "noisy output" in (tmp_path / "log" / "crashy.log").read_text()
    assert "GET /readyz" in (tmp_path / "log" / "web.log").read_text()


@pytest.mark.django_db(transaction=True)
def test_run_tower_stops_everything_on_ctrl_c(tmp_path):
    procfile = tmp_path / "Procfile"
    pidfile = tmp_path / "sleeper.pid"
    procfile.write_text(f"sleeper: sh -c 'echo $$ > {pidfile}; exec sleep 120'\n")
    tower = subprocess.Popen(
        [PY, "manage.py", "run_tower", "--procfile", str(procfile), "--log-dir", str(tmp_path / "log")],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30, what="the program")
        tower.send_signal(signal.SIGINT)
        out, _ = tower.communicate(timeout=30)
    finally:
        if tower.poll() is None:
            tower.kill()
    assert tower.returncode == 0
    assert "stopping" in out and "stopped (0 restart(s)" in out
    wait_for(lambda: not _alive(int(pidfile.read_text())), timeout=10, what="the program to be gone")
