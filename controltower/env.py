"""Reading configuration from environment variables, loudly.

Every knob of the control tower comes from the environment (12-factor). These helpers turn a
variable into a typed value and stop start-up with a message naming the variable when the value
cannot be understood, so a typo in a deployment never silently becomes a default.
A variable `NAME_FILE` pointing at a file is read instead of `NAME` (for container secrets).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ImproperlyConfigured):
    """A configuration variable holds a value the control tower cannot use."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        self.name = name
        super().__init__(f"Environment variable {name}={value!r} is invalid: expected {expected}.")


def env_str(name: str, default: str | None = None) -> str | None:
    """The raw value of `name`, or the contents of the file named by `name_FILE`."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE", file_path, f"a readable file ({exc.strerror})") from exc
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, raw, "one of 1/0, true/false, yes/no, on/off")


def _parse(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    raw = env_str(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(name, raw, expected) from exc


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _parse(name, default, int, "a whole number")
    if minimum is not None and value < minimum:
        raise ConfigError(name, str(value), f"a whole number of at least {minimum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _parse(name, default, float, "a number")
    if minimum is not None and value < minimum:
        raise ConfigError(name, str(value), f"a number of at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    raw = env_str(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, *, schemes: tuple[str, ...], hostless: tuple[str, ...] = ()) -> str | None:
    """A URL whose scheme is one of `schemes`, or None when unset or blank; a scheme in
    `hostless` may stand alone (`ctfs://`)."""
    raw = env_str(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes or not (rest or scheme in hostless):
        raise ConfigError(name, value, "a URL starting with " + " or ".join(f"{s}://" for s in schemes))
    return value
