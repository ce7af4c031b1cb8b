"""Test settings: the production settings module, with the few variables a test run needs.

Only environment defaults are set here (an explicit variable still wins), so the suite runs the
same settings code as production — including on PostgreSQL and Redis when CI sets their URLs.
Child processes started by tests (Celery worker, uvicorn) inherit these variables.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# Threads (async consumers, sync_to_async) must not keep connections open past a test.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
# Its own embedded broker folder and SQLite files, so a running `make run` never shares them.
os.environ.setdefault("CONTROLTOWER_DATA_DIR", str(_ROOT / "var" / "test"))

from controltower.settings import *  # noqa: E402,F401,F403
