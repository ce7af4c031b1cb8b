"""Test settings: the production settings module, with the few variables a test run needs.

Only environment defaults are set here (an explicit variable still wins), so the suite runs the
same settings code as production — including on PostgreSQL and Redis when CI sets their URLs.
Child processes started by tests (Celery worker, uvicorn) inherit these variables.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-that-is-long-enough-0123456789")
# A fixed Fernet key for secrets at rest (tests/controltower/test_encryption.py rotates it).
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdHMtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleSE=")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# Threads (async consumers, sync_to_async) must not keep connections open past a test.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
# Its own embedded broker folder and SQLite files, so a running `make run` never shares them.
os.environ.setdefault("CONTROLTOWER_DATA_DIR", str(_ROOT / "var" / "test"))
# Recovery tests (a killed worker, a broker outage) wait for the sweeper and for leases to lapse:
# seconds here instead of minutes.
os.environ.setdefault("CONTROLTOWER_DELIVERY_SWEEP_GRACE", "1")
os.environ.setdefault("CONTROLTOWER_DELIVERY_LEASE_MARGIN", "1")

from controltower.settings import *  # noqa: E402,F401,F403

# Django deletes a SQLite test database's file but not its -wal/-shm files; beside the next run's
# new file they would be read as its journal ("disk I/O error"). Only the test run's own process
# cleans them, before anything opens the database — never a child process it started.
if "CONTROLTOWER_TEST_PARENT" not in os.environ:
    os.environ["CONTROLTOWER_TEST_PARENT"] = str(os.getpid())
    _test_db = DATABASES["default"].get("TEST", {}).get("NAME")  # noqa: F405
    if DATABASES["default"]["ENGINE"].endswith("sqlite3") and _test_db:  # noqa: F405
        for _suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{_test_db}{_suffix}").unlink(missing_ok=True)
