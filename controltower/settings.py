"""The control tower's one settings module.

Every knob is an environment variable (see `.env.example` and the README). With nothing set, the
control tower runs on embedded defaults: a SQLite file, an in-memory channel layer and a
filesystem Celery broker under `var/`. Setting `DATABASE_URL` and `REDIS_URL` moves the same
code onto PostgreSQL and Redis. Bad values stop start-up with the variable's name.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF

from controltower.env import (
    ConfigError,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CONTROLTOWER_DATA_DIR") or BASE_DIR / "var")
# Holds the embedded SQLite file and broker folder; creating it here keeps a fresh clone working.
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

# `make run` writes a random key here once (chmod 600), so every command of this checkout —
# the processes of `make run`, and `manage.py create_token` typed in another shell — shares it
# with no variable to set. A deployment sets SECRET_KEY (or SECRET_KEY_FILE) instead.
SECRET_KEY_PATH = DATA_DIR / "secret-key"
SECRET_KEY = env_str("SECRET_KEY") or ""
if not SECRET_KEY and SECRET_KEY_PATH.is_file():
    SECRET_KEY = SECRET_KEY_PATH.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError(
            "SECRET_KEY",
            "",
            f"a long random string (required when DEBUG is off; `make run` writes one to {SECRET_KEY_PATH})",
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
elif not DEBUG and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")
):
    # Django's own rules (security.W009), enforced: a guessable key forges sessions and tokens.
    raise ConfigError(
        "SECRET_KEY",
        f"<{len(SECRET_KEY)} characters, not shown>",
        "at least 50 characters with at least 5 different ones, not starting with 'django-insecure-'"
        " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))')",
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ConfigError(
            "CSRF_TRUSTED_ORIGINS", _origin, "origins with a scheme, like https://ct.example.com"
        )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "channels",
    # ground floor: every app may import these
    "controltower.masterdata",
    "controltower.accounts",
    "controltower.health",
    "controltower.audit",
    # integrations: network, intake, delivery (knows nothing of exceptions or pages)
    "integrations",
    "integrations.delivery",
    "integrations.sandbox",
    # traces: read integrations; exception rules may read them
    "controltower.traces",
    # exceptions: cases from failures and rules; read integrations and traces, call their services
    "exceptions",
    # roof: pages and live views, imports everything, imported by nothing
    "controltower.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Pages in the viewer's time zone (the browser's `tz` cookie); the API stays UTC.
    "controltower.web.timezones.ViewerTimezoneMiddleware",
]
# The request edge (issue 9): a NUL in a parameter is a 400, an unreachable database a 503 page
# or problem, never a 500. After auth and htmx, so the 400 page has the layout and the user.
MIDDLEWARE += [
    "controltower.web.middleware.UnstorableInputMiddleware",
    "controltower.web.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "controltower.urls"
WSGI_APPLICATION = "controltower.wsgi.application"
ASGI_APPLICATION = "controltower.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "controltower.web.navigation.navigation",
                "controltower.web.live.render.live_context",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
_default_sqlite = DATA_DIR / "controltower.sqlite3"
_database_url = (
    env_url("DATABASE_URL", schemes=("postgres", "postgresql", "postgis", "sqlite"))
    or f"sqlite:///{_default_sqlite}"
)
try:
    _database = dj_database_url.parse(
        _database_url,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
except ValueError as exc:  # dj-database-url explains what it could not parse
    raise ConfigError("DATABASE_URL", _database_url, f"a database URL ({exc})") from exc

if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the Celery worker use the file at the same time; IMMEDIATE
    # transactions make writers queue instead of failing with "database is locked".
    _database["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a real worker process started by a test sees the test database.
    _database["TEST"] = {"NAME": str(DATA_DIR / "test-controltower.sqlite3")}
else:
    # The app's queries are short index reads; PostgreSQL's JIT compiles plans whose cost
    # estimate is high (an OR across subqueries, say) and spent 440 of 460 ms doing so in the
    # trace benchmark. Off for our connections; an operator can still turn it on per session.
    _options = _database.setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
    # Named in pg_stat_activity (Celery workers rename theirs: controltower/celery.py).
    _options.setdefault("application_name", "controltower")
# --- Database pool: a bound on the connections one process opens ------------------------------
# Under ASGI every request's sync code runs in a thread of its own, and each thread opens its own
# connection: 128 concurrent clients made ~90 connections and PostgreSQL refused the rest. The
# ASGI entry point (controltower/asgi.py) therefore turns the pool on unless DATABASE_POOL says
# otherwise; a process then holds at most DATABASE_POOL_MAX_SIZE connections, and a request that
# waits longer than DATABASE_POOL_TIMEOUT seconds for one is answered 503 + Retry-After
# (psycopg's PoolTimeout is an OperationalError: controltower/problems.py). Sync WSGI workers and
# Celery processes use one connection per process (CONN_MAX_AGE) and leave it off.
if _database["ENGINE"] != "django.db.backends.sqlite3" and env_bool("DATABASE_POOL", False):
    _database["CONN_MAX_AGE"] = 0  # Django requires it: the pool, not the thread, keeps them warm
    _database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 5.0, minimum=0.01),
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker ---------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A receive blocks in BZPOPMIN for 5 s, and redis-py 8 reads every answer with a
                # default 5 s socket timeout: the read loses the race and an idle websocket dies
                # after 5 s. BZPOPMIN answers by itself when its time is up, so no read timeout.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "ct"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Cache: shared by web processes when Redis is there (rate limits, coalescing) ------------
if REDIS_URL:
    CACHES = {
        "default": {
            # Misses instead of errors while Redis is down (see controltower/cache.py).
            "BACKEND": "controltower.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Event intake ----------------------------------------------------------------------------
INTAKE_MAX_BODY_BYTES = env_int("INTAKE_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INTAKE_MAX_BODY_BYTES
INTAKE_MAX_BATCH_EVENTS = env_int("INTAKE_MAX_BATCH_EVENTS", 1000, minimum=1)
INTAKE_RATE_LIMIT_PER_MINUTE = env_int("INTAKE_RATE_LIMIT_PER_MINUTE", 12_000, minimum=0)

# --- Celery ----------------------------------------------------------------------------------
CELERY_QUEUES = {
    "ingest": env_str("CELERY_QUEUE_INGEST", "ingest"),
    "delivery": env_str("CELERY_QUEUE_DELIVERY", "delivery"),
    "replay": env_str("CELERY_QUEUE_REPLAY", "replay"),
    "rules": env_str("CELERY_QUEUE_RULES", "rules"),
}
if len(set(CELERY_QUEUES.values())) != len(CELERY_QUEUES):
    raise ConfigError("CELERY_QUEUE_*", ",".join(CELERY_QUEUES.values()), "four distinct queue names")

CELERY_BROKER_DIR = DATA_DIR / "celery-broker"
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    schemes=("redis", "rediss", "amqp", "ctfs", "filesystem"),
    hostless=("ctfs", "filesystem"),
)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = REDIS_URL or "ctfs://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's own filesystem transport hands workers half-written messages (kombu #1551);
    # the same folder layout is served by ours, which writes and claims atomically.
    CELERY_BROKER_URL = "ctfs://" + CELERY_BROKER_URL.removeprefix("filesystem://")
if CELERY_BROKER_URL.startswith("ctfs://"):
    # The embedded broker (controltower/broker.py): a folder both the web process and the
    # worker process read and write, so a laptop needs no broker server yet tasks still run in
    # a real worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # A worker waits one interval after each task (prefetch 1); an idle poll is one stat().
        "polling_interval": 0.02,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the hard time limit, so a slow task is not handed to a second worker.
        "visibility_timeout": 3600,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0, minimum=0.1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost broker connection never ends the worker: it retries for as long as it takes (Celery's
# default gives up after 100 tries), every few seconds at most, and `run_tower` restarts a worker
# that dies anyway.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUES["rules"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ConfigError(
        "CELERY_TASK_TIME_LIMIT", str(CELERY_TASK_TIME_LIMIT), "more than CELERY_TASK_SOFT_TIME_LIMIT"
    )
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    f"heartbeat-{concern}": {
        "task": "controltower.health.heartbeat",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
        "args": (concern,),
        "options": {"queue": queue, "expires": HEARTBEAT_INTERVAL_SECONDS},
    }
    for concern, queue in CELERY_QUEUES.items()
}
# Correlates events whose correlation task was never queued (broker down) or was lost.
CELERY_BEAT_SCHEDULE["traces-correlate-pending"] = {
    "task": "controltower.traces.correlate_pending",
    "schedule": 60.0,
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
# Re-evaluates traces whose next deadline or at-risk time has passed (Trace.next_due_at).
CELERY_BEAT_SCHEDULE["traces-mark-overdue"] = {
    "task": "controltower.traces.mark_overdue",
    "schedule": 60.0,
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
# Re-queues deliveries whose task was lost (broker down at commit, worker killed, lost retry).
CONTROLTOWER_DELIVERY_SWEEP_GRACE = env_int("CONTROLTOWER_DELIVERY_SWEEP_GRACE", 60, minimum=1)
# A delivery's lease outlives its target's HTTP timeout by this many seconds; a worker killed
# mid-send holds the delivery that long before another may send it again.
CONTROLTOWER_DELIVERY_LEASE_MARGIN = env_int("CONTROLTOWER_DELIVERY_LEASE_MARGIN", 30, minimum=1)
CELERY_BEAT_SCHEDULE["delivery-sweep"] = {
    "task": "integrations.delivery.sweep",
    "schedule": float(env_int("CONTROLTOWER_DELIVERY_SWEEP_SECONDS", 15, minimum=1)),
    "options": {"queue": CELERY_QUEUES["delivery"], "expires": 30},
}
# EPCIS capture (issue #9): documents of more events than this are captured by a worker on
# the ingest queue (202 with a running job) instead of within the request; the sweep re-queues
# capture jobs whose task was lost.
EPCIS_CAPTURE_INLINE_EVENTS = env_int("EPCIS_CAPTURE_INLINE_EVENTS", 100, minimum=0)
EPCIS_CAPTURE_SWEEP_GRACE = env_int("EPCIS_CAPTURE_SWEEP_GRACE", 60, minimum=1)
CELERY_BEAT_SCHEDULE["epcis-capture-sweep"] = {
    "task": "integrations.capture_sweep",
    "schedule": 30.0,
    "options": {"queue": CELERY_QUEUES["ingest"], "expires": 30},
}
# Exception queues (issue #11): the sweep opens cases the change path missed (within the look-back
# window), clears occurrences whose cause is gone and ends snoozes; handling time per severity.
EXCEPTIONS_SWEEP_LOOKBACK_HOURS = env_int("EXCEPTIONS_SWEEP_LOOKBACK_HOURS", 72, minimum=1)
EXCEPTIONS_SLA_HOURS = {4: 1, 3: 4, 2: 24, 1: 72}  # Case.Severity: critical, high, medium, low
CELERY_BEAT_SCHEDULE["exceptions-sweep"] = {
    "task": "exceptions.sweep",
    "schedule": float(env_int("EXCEPTIONS_SWEEP_SECONDS", 60, minimum=1)),
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
# Ownership (routing rules and SLA policies live in the admin): escalation of cases past their
# handling time, and notifications of new high-severity cases and breaches, at most one message
# per recipient per digest interval.
CELERY_BEAT_SCHEDULE["exceptions-escalate"] = {
    "task": "exceptions.escalate",
    "schedule": float(env_int("EXCEPTIONS_ESCALATE_SECONDS", 60, minimum=1)),
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
CELERY_BEAT_SCHEDULE["exceptions-notify"] = {
    "task": "exceptions.notify",
    "schedule": float(env_int("EXCEPTIONS_NOTIFY_SECONDS", 60, minimum=1)),
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
EXCEPTIONS_NOTIFY_MIN_SEVERITY = env_int("EXCEPTIONS_NOTIFY_MIN_SEVERITY", 3, minimum=1)  # 3: high
EXCEPTIONS_NOTIFY_DIGEST_MINUTES = env_float("EXCEPTIONS_NOTIFY_DIGEST_MINUTES", 10.0, minimum=0.0)
# Links in notifications point here (the address people open the tower at).
EXCEPTIONS_NOTIFY_BASE_URL = env_str("CONTROLTOWER_PUBLIC_URL", "http://127.0.0.1:8000")
# Bulk actions on cases whose task was lost (broker down at start, a worker killed) run again.
CELERY_BEAT_SCHEDULE["exceptions-bulk-sweep"] = {
    "task": "exceptions.bulk_sweep",
    "schedule": 60.0,
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
# Business rules (issue #11): reconciliation of WMS receipts with ERP postings, silent source
# systems and a catch-up of milestone cases, on a schedule (event rules run per batch of changes).
CELERY_BEAT_SCHEDULE["exceptions-rules-scan"] = {
    "task": "exceptions.rules_scan",
    "schedule": float(env_int("EXCEPTIONS_RULES_SCAN_SECONDS", 60, minimum=1)),
    "options": {"queue": CELERY_QUEUES["rules"], "expires": 60},
}
CELERY_TASK_ROUTES = {
    "exceptions.*": {"queue": CELERY_QUEUES["rules"]},
    "controltower.traces.*": {"queue": CELERY_QUEUES["rules"]},
    "integrations.delivery.replay_*": {"queue": CELERY_QUEUES["replay"]},
    "integrations.delivery.resubmit": {"queue": CELERY_QUEUES["ingest"]},
    "integrations.capture_*": {"queue": CELERY_QUEUES["ingest"]},
    "integrations.delivery.*": {"queue": CELERY_QUEUES["delivery"]},
}

# --- Email (notifications) ------------------------------------------------------------------
# Django's mail backends: the console backend by default (`make run` prints the mails), SMTP in a
# deployment (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST…). Tests
# get Django's locmem backend from the test runner.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "control-tower@localhost")

# --- Accounts --------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Personal API tokens: how long one lives when no expiry is given (0 = never expires).
PERSONAL_TOKEN_DEFAULT_DAYS = env_int("PERSONAL_TOKEN_DEFAULT_DAYS", 90, minimum=0)

# --- Field encryption: target and sandbox secrets at rest (controltower/encryption.py) -------
# Fernet keys, comma-separated: the first encrypts, all decrypt (rotation: a new key first, then
# `manage.py reencrypt_secrets`, then drop the old). Make one with
# `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
# `make run` writes one into the data folder once, as it does the secret key, so every command of
# this checkout shares it with no variable to set.
FIELD_ENCRYPTION_KEY_PATH = DATA_DIR / "field-encryption-key"
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY", [])
if not FIELD_ENCRYPTION_KEYS and FIELD_ENCRYPTION_KEY_PATH.is_file():
    FIELD_ENCRYPTION_KEYS = [FIELD_ENCRYPTION_KEY_PATH.read_text().strip()]
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ConfigError(
            "FIELD_ENCRYPTION_KEY",
            "",
            "a Fernet key (required when DEBUG is off; see .env.example to make one;"
            f" `make run` writes one to {FIELD_ENCRYPTION_KEY_PATH})",
        )
    # DEBUG only: a key derived from SECRET_KEY, so a laptop needs nothing set.
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(f"field encryption\n{SECRET_KEY}".encode()).digest()).decode()
    ]
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ConfigError(
            "FIELD_ENCRYPTION_KEY", f"{_key[:4]}…", "Fernet keys (32 bytes, url-safe base64), comma-separated"
        ) from None

# --- Sign-in throttling (django-axes; controltower/accounts/lockout.py) ----------------------
# Failed sign-ins are counted per username + address and per address; either reaching its limit
# locks sign-in for LOGIN_LOCKOUT_MINUTES (each failure while locked restarts the wait). Admins
# see attempts in the admin and lift locks with `manage.py axes_reset_username USER`.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last: turns a lockout into our answer
AUTHENTICATION_BACKENDS = [
    "controltower.accounts.lockout.LockoutBackend",  # first: refuses a locked-out sign-in at once
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("LOGIN_LOCKOUT_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
LOGIN_LOCKOUT_LIMITS = {
    "username+ip_address": AXES_FAILURE_LIMIT,
    # Looser: many people may sign in from one office address.
    "ip_address": env_int("LOGIN_IP_FAILURE_LIMIT", 50, minimum=1),
}
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.01))
AXES_HANDLER = "controltower.accounts.lockout.PerParameterLimitHandler"
AXES_LOCKOUT_CALLABLE = "controltower.accounts.lockout.lockout_response"
# Axes' admin pages are registered by controltower.accounts.admin, whose attempt admin audits
# the locks an admin lifts there.
AXES_ENABLE_ADMIN = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # each failure is kept for admins, not only the count
AXES_VERBOSE = False
# Behind N reverse proxies the client is the Nth address from the right of X-Forwarded-For;
# without it every sign-in would seem to come from the proxy and share its limit.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "controltower.accounts.lockout.client_address"

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "controltower.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["controltower.accounts.access.CanView"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 100, minimum=1),
    "EXCEPTION_HANDLER": "controltower.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's own three, refusing (400, naming the field) what the database cannot hold.
    "DEFAULT_PARSER_CLASSES": [
        "controltower.parsers.StrictJSONParser",
        "controltower.parsers.StrictFormParser",
        "controltower.parsers.StrictMultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Manufacturing control tower API",
    "DESCRIPTION": (
        "Event intake, traces, deliveries and exception queues of the control tower. "
        "Authenticate with `Authorization: Bearer <token>` (a personal or system token) or a "
        "browser session. Every error is `application/problem+json` (RFC 9457)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["controltower.accounts.access.CanView"],
    # Swagger UI and ReDoc from our own static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `state`; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "TraceStateEnum": "controltower.traces.models.Trace.State",
        "MilestoneStateEnum": "controltower.traces.models.TraceMilestone.State",
        "ReplayKindEnum": "integrations.delivery.models.ReplayJob.Kind",
        "ReplayStateEnum": "integrations.delivery.models.ReplayJob.State",
        "DeliveryStatusEnum": "integrations.delivery.models.Delivery.Status",
        "SandboxAuthKindEnum": "integrations.sandbox.models.SandboxReceiver.AuthKind",
        "TargetAuthEnum": "integrations.delivery.models.Target.Auth",
        "CaseKindEnum": "exceptions.models.Case.Kind",
        "CaseStateEnum": "exceptions.models.Case.State",
        "CaseEntryActionEnum": "exceptions.models.CaseEntry.Action",
        "CaseBulkActionEnum": "exceptions.models.CaseBulkJob.Action",
        "CaseBulkStateEnum": "exceptions.models.CaseBulkJob.State",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "controltower.openapi.add_problem_responses",
    ],
}

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise expects it even before the first collectstatic
STATICFILES_DIRS = [
    BASE_DIR / "static",
]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly ships plotly.min.js: charts are served from our own origin and work offline.
    "controltower.web.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Security: production defaults, relaxed only by DEBUG ------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)

# --- Content-Security-Policy (django-csp; tests/browser/test_content_security_policy.py) -------
# Scripts and styles only from our own files: no inline script, no inline style, no eval. htmx is
# told not to inject its indicator styles (templates/base.html); 'self' covers our websocket
# (ws:/wss: on the same host) in CSP Level 3 browsers. Plotly: plotly.min.js is served from our
# own static files; no page draws charts yet. The API docs use drf-spectacular's split Swagger
# view (no inline script); ReDoc gets a wider policy of its own (controltower/urls.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware"
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": [_csp_report]} if (_csp_report := env_str("CSP_REPORT_URI")) else {}),
    }
}

# --- Internationalisation: times are stored and shown in UTC (ISO 8601) ----------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Demo ------------------------------------------------------------------------------------
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "controltower-demo")

LOG_LEVEL = (env_str("LOG_LEVEL", "INFO") or "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigError("LOG_LEVEL", LOG_LEVEL, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
