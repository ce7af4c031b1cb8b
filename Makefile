# Two commands matter: `make run` and `make test` (see README). Everything else supports them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR := $(or $(CONTROLTOWER_DATA_DIR),var)

.PHONY: run test setup migrate demo lock lint bench clean browser

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

migrate: setup $(DATA_DIR)/secret-key $(DATA_DIR)/field-encryption-key
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo --quiet --base-url http://$(HOST):$(PORT)

## run: set up, migrate, load the demo, then serve web + worker + beat + simulator until Ctrl-C.
## The product as users see it: DEBUG off (our own 404/500 pages), a secret key generated once into
## var/secret-key (and var/field-encryption-key), plain http on localhost. `manage.py run_tower` keeps the Procfile's programs
## running (a dead one is restarted and reported), logs them under var/log/ and prints the banner
## once the web answers /readyz, then one activity line a minute.
run soak: export DEBUG ?= 0
run soak: export ALLOWED_HOSTS ?= localhost,127.0.0.1,[::1]
run soak: export SECURE_SSL_REDIRECT ?= 0
run soak: export SESSION_COOKIE_SECURE ?= 0
run soak: export CSRF_COOKIE_SECURE ?= 0
run soak: export SECURE_HSTS_SECONDS ?= 0
run: $(DATA_DIR)/secret-key $(DATA_DIR)/field-encryption-key demo
	@$(PY) manage.py run_tower --host $(HOST) --port $(PORT)

$(DATA_DIR)/secret-key:
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(64))" > $@

# The Fernet key that encrypts target and sandbox secrets at rest (32 random bytes, url-safe base64).
$(DATA_DIR)/field-encryption-key:
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())" > $@

## soak: the demo under the simulator at 10x its default rate for SOAK_MINUTES (default 30) in its own
## var/soak/; reports crashes, restarts and lost tasks and fails on any (figures in docs/performance.md)
SOAK_MINUTES ?= 30
.PHONY: soak
soak: setup
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

## browser: Debian's Chromium for the browser tests (needs root or sudo on Debian/Ubuntu)
browser:
	@command -v chromium >/dev/null 2>&1 || bash .ci/install-package chromium fonts-dejavu-core

## test: set up and run the whole suite (SQLite by default; PostgreSQL/Redis via DATABASE_URL/REDIS_URL)
test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

## bench: the ingest benchmark on local PostgreSQL (BENCH_DATABASE_URL); figures go to docs/performance.md
bench: setup
	@command -v wrk >/dev/null 2>&1 || bash .ci/install-package wrk
	$(PY) bench/ingest.py $(BENCH_ARGS)

## bench-traces: trace lookup and trace page on 1M seeded events (DATABASE_URL, default …/ct_bench_traces,
## seeded once and reused; BENCH_TRACES_ARGS e.g. "--repeat 3" or "--events 100000"); figures in docs/performance.md
.PHONY: bench-traces
bench-traces: setup
	$(PY) bench/traces.py $(BENCH_TRACES_ARGS)

## bench-replay: bulk retry of 20,000 dead letters through 2 Celery worker processes vs a plain HTTP client
## (BENCH_REPLAY_DATABASE_URL, default …/ct_bench_replay, recreated; Redis db 12; BENCH_REPLAY_ARGS e.g.
## "--deliveries 2000 --runs 1" or "--profile 1500"); figures in docs/performance.md
.PHONY: bench-replay
bench-replay: setup
	$(PY) bench/replay.py $(BENCH_REPLAY_ARGS)

## bench-live: 50 signed-in websocket clients on live pages while the API takes 200 events/s, against one
## group_send per event (BENCH_LIVE_DATABASE_URL, default …/ct_bench_live, recreated; Redis db 13 via
## BENCH_LIVE_REDIS_URL; BENCH_LIVE_ARGS e.g. "--clients 10 --seconds 5" or "--pages /traces/,/");
## figures in docs/performance.md
.PHONY: bench-live
bench-live: setup
	$(PY) bench/live.py $(BENCH_LIVE_ARGS)

## lint: ruff, then the import layers of DESIGN.md §1 (import-linter; contracts in pyproject.toml)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

## lock: re-resolve requirements.lock from pyproject.toml (hashes included)
lock: setup
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) var
