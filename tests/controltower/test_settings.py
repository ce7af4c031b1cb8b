"""Settings come from the environment and fail loudly, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from controltower.env import ConfigError, env_bool, env_int, env_list, env_str, env_url
from tests.conftest import ROOT


def bare_environment() -> dict[str, str]:
    """Only what a process needs to run: none of the control tower's variables."""
    keep = {"PATH", "HOME", "LANG", "CONTROLTOWER_DATA_DIR"}
    return {k: v for k, v in os.environ.items() if k in keep}


def start_django(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter, as a server would at start-up."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**bare_environment(), "DJANGO_SETTINGS_MODULE": "controltower.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://db/controltower"),
        ("REDIS_URL", "localhost:6379"),
        ("CELERY_WORKER_CONCURRENCY", "two"),
        ("CELERY_WORKER_CONCURRENCY", "0"),
        ("CSRF_TRUSTED_ORIGINS", "ct.example.com"),
        ("LOG_LEVEL", "chatty"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(variable, value):
    result = start_django(**{"DEBUG": "1", variable: value})
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert f"Environment variable {variable}=" in result.stderr


def test_secret_key_is_required_when_debug_is_off():
    result = start_django(DEBUG="0", ALLOWED_HOSTS="ct.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


FERNET_KEY = "ZGVwbG95LWNoZWNrLWZpZWxkLWVuY3J5cHQta2V5ISE="  # 32 bytes, url-safe base64


def test_field_encryption_key_is_required_when_debug_is_off():
    result = start_django(
        DEBUG="0",
        SECRET_KEY="Zq8#vT2!mW9$eR4^yU7&iO1*pA3(sD6)fG0_hJ5+lK-0123456789",
        ALLOWED_HOSTS="ct.example.com",
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_a_bad_field_encryption_key_stops_start_up_without_printing_it():
    result = start_django(DEBUG="1", FIELD_ENCRYPTION_KEY=f"{FERNET_KEY},not-a-key-but-secret-text")
    assert result.returncode != 0
    assert "Environment variable FIELD_ENCRYPTION_KEY=" in result.stderr
    assert "but-secret-text" not in result.stderr


@pytest.mark.parametrize(
    "key",
    ["short", "a" * 60 + "bcd", "django-insecure-" + "Zq8#vT2!mW9$eR4^yU7&iO1*pA3(sD6)fG0_hJ5+lK"],
    ids=["5 characters", "4 different characters", "django-insecure prefix"],
)
def test_weak_secret_key_stops_start_up_with_debug_off_naming_the_variable(key):
    result = start_django(DEBUG="0", SECRET_KEY=key, ALLOWED_HOSTS="ct.example.com")
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "Environment variable SECRET_KEY=" in result.stderr
    assert "at least 50 characters" in result.stderr
    assert key not in result.stderr, "the key itself is never printed"


def test_short_secret_key_is_fine_for_development_with_debug_on():
    result = start_django(DEBUG="1", SECRET_KEY="short")
    assert result.returncode == 0, result.stderr


def test_key_written_by_make_run_is_used_with_no_variable_set(tmp_path):
    """`manage.py …` in a second shell beside `make run` needs no SECRET_KEY or DEBUG."""
    (tmp_path / "secret-key").write_text("Zq8#vT2!mW9$eR4^yU7&iO1*pA3(sD6)fG0_hJ5+lK-0123456789\n")
    (tmp_path / "field-encryption-key").write_text(FERNET_KEY + "\n")
    result = start_django(CONTROLTOWER_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    without = start_django(CONTROLTOWER_DATA_DIR=str(tmp_path / "elsewhere"))
    assert without.returncode != 0 and "make run` writes one" in without.stderr


def test_defaults_start_on_embedded_services():
    result = start_django(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_deploy_check_passes_with_only_debug_secret_keys_and_hosts():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **bare_environment(),
            "DEBUG": "0",
            "SECRET_KEY": "k" * 10 + "-Zq8#vT2!mW9$eR4^yU7&iO1*pA3(sD6)fG0_hJ5+lK",
            "FIELD_ENCRYPTION_KEY": FERNET_KEY,
            "ALLOWED_HOSTS": "ct.example.com",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(secret))
    assert env_str("SOME_SECRET") == "from-a-file"
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="SOME_SECRET_FILE"):
        env_str("SOME_SECRET")


def test_typed_helpers(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    monkeypatch.setenv("COUNT", " 7 ")
    monkeypatch.setenv("HOSTS", "a.example, ,b.example")
    monkeypatch.setenv("BROKER", "redis://127.0.0.1:6379/0")
    assert env_bool("FLAG", False) is True
    assert env_int("COUNT", 1, minimum=1) == 7
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    assert env_url("BROKER", schemes=("redis",)) == "redis://127.0.0.1:6379/0"
    with pytest.raises(ConfigError, match="BROKER"):
        env_url("BROKER", schemes=("amqp",))
    assert env_int("UNSET_COUNT", 5) == 5


def test_field_encryption_key_written_by_make_run_is_used_with_no_variable_set(tmp_path):
    (tmp_path / "secret-key").write_text("Zq8#vT2!mW9$eR4^yU7&iO1*pA3(sD6)fG0_hJ5+lK-0123456789\n")
    missing = start_django(CONTROLTOWER_DATA_DIR=str(tmp_path))
    assert missing.returncode != 0 and "FIELD_ENCRYPTION_KEY" in missing.stderr
    (tmp_path / "field-encryption-key").write_text(FERNET_KEY + "\n")
    probe = "from django.conf import settings; print(settings.FIELD_ENCRYPTION_KEYS)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {probe}"],
        cwd=ROOT,
        env={
            **bare_environment(),
            "DJANGO_SETTINGS_MODULE": "controltower.settings",
            "CONTROLTOWER_DATA_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([FERNET_KEY])
