"""Registry of the canonical event contracts (versioned JSON Schema files).

Layout: ``<root>/<type>/v<N>.schema.json`` plus ``v<N>.example.json``. Adding a version is
dropping ``v2.schema.json`` + ``v2.example.json`` beside ``v1``; every version stays
loadable. Pure Python; importable without Django settings.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .identifiers import (
    IDENTIFIER_KINDS,
    WILDCARD,
    bind,
    identifier_specs,
    parse_pointer,
    resolve,
    scalar_text,
)
from .validation import validate_data

__all__ = [
    "SCHEMAS_DIR",
    "Contract",
    "ContractRegistry",
    "check_catalog",
    "contract_get",
    "contract_types",
    "contracts_all",
    "default_registry",
    "schema_uri",
    "version_from_dataschema",
]

#: Folder holding the project's contracts.
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
URN_PREFIX = "urn:controltower:contract:"

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$")
_SCHEMA_FILE_RE = re.compile(r"^v([1-9][0-9]*)\.schema\.json$")
_EXAMPLE_FILE_RE = re.compile(r"^v([1-9][0-9]*)\.example\.json$")
_URN_RE = re.compile(r"^urn:controltower:contract:[^:\s]+:v([1-9][0-9]*)$", re.IGNORECASE)
_PATH_RE = re.compile(r"(?:^|/)v([1-9][0-9]*)(?:\.schema\.json)?/?$", re.IGNORECASE)


def schema_uri(type_: str, version: int) -> str:
    """The ``$id`` a contract's schema must carry: ``urn:controltower:contract:<type>:v<N>``."""
    return f"{URN_PREFIX}{type_}:v{version}"


@dataclass(frozen=True)
class Contract:
    """One version of one event contract. Treat ``schema``/``example`` as read-only."""

    type: str
    version: int
    schema: dict
    example: dict
    identifiers: dict
    #: JSON pointer (within data) of the contract's own business time, from ``x-business-time``:
    #: what intake takes as the event's time when a CloudEvent carries no ``time``.
    business_time: str | None = None

    def __hash__(self) -> int:  # dict fields are unhashable; (type, version) identifies it
        return hash((self.type, self.version))

    @property
    def schema_uri(self) -> str:
        """The schema's ``$id`` (falls back to the canonical URN when the file lacks one)."""
        declared = self.schema.get("$id")
        return declared if isinstance(declared, str) else schema_uri(self.type, self.version)


def version_from_dataschema(dataschema: str | None) -> int | None:
    """The contract version named by a CloudEvent ``dataschema``, or ``None``.

    Understands ``urn:controltower:contract:<type>:v<N>`` and URLs/paths ending in
    ``/<type>/v<N>`` (optionally with a trailing slash) or ``.../v<N>.schema.json``;
    query strings and fragments are ignored. Never raises; ``N`` must be a positive integer.
    """
    if not isinstance(dataschema, str):
        return None
    text = dataschema.strip()
    match = _URN_RE.match(text)
    if match:
        return int(match.group(1))
    if text.lower().startswith("urn:"):
        return None
    text = text.split("#", 1)[0].split("?", 1)[0]
    match = _PATH_RE.search(text)
    return int(match.group(1)) if match else None


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


class ContractRegistry:
    """Contracts loaded (once, lazily, thread-safely) from one schemas folder."""

    def __init__(self, root: str | Path = SCHEMAS_DIR) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._contracts: dict[tuple[str, int], Contract] | None = None
        self._load_problems: list[str] = []

    def _loaded(self) -> dict[tuple[str, int], Contract]:
        if self._contracts is None:
            with self._lock:
                if self._contracts is None:
                    self._contracts, self._load_problems = self._load()
        return self._contracts

    def _load(self) -> tuple[dict[tuple[str, int], Contract], list[str]]:
        contracts: dict[tuple[str, int], Contract] = {}
        problems: list[str] = []
        if not self.root.is_dir():
            return contracts, [f"schemas folder not found: {self.root}"]
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            type_ = folder.name
            if type_.startswith((".", "_")):
                continue
            if not _TYPE_RE.match(type_):
                problems.append(f"{type_}: folder name is not a contract type like noun.verb")
                continue
            names = sorted(p.name for p in folder.iterdir() if p.is_file())
            schema_versions = {int(m.group(1)) for n in names if (m := _SCHEMA_FILE_RE.match(n))}
            example_versions = {int(m.group(1)) for n in names if (m := _EXAMPLE_FILE_RE.match(n))}
            for version in sorted(example_versions - schema_versions):
                problems.append(f"{type_} v{version}: example without schema")
            for version in sorted(schema_versions):
                label = f"{type_} v{version}"
                try:
                    schema = _read_json(folder / f"v{version}.schema.json")
                except (OSError, ValueError) as exc:
                    problems.append(f"{label}: schema is not readable JSON: {exc}")
                    continue
                if not isinstance(schema, dict):
                    problems.append(f"{label}: schema is not a JSON object")
                    continue
                example: Any = {}
                if version in example_versions:
                    try:
                        example = _read_json(folder / f"v{version}.example.json")
                    except (OSError, ValueError) as exc:
                        problems.append(f"{label}: example is not readable JSON: {exc}")
                else:
                    problems.append(f"{label}: v{version}.example.json is missing")
                identifiers = schema.get("x-identifiers", {})
                business_time = schema.get("x-business-time")
                contracts[(type_, version)] = Contract(
                    type=type_,
                    version=version,
                    schema=schema,
                    example=example if isinstance(example, dict) else {},
                    identifiers=identifiers if isinstance(identifiers, dict) else {},
                    business_time=business_time if isinstance(business_time, str) else None,
                )
                if not isinstance(example, dict):
                    problems.append(f"{label}: example is not a JSON object")
        return contracts, problems

    def reload(self) -> None:
        """Forget what was loaded; the next call reads the folder again."""
        with self._lock:
            self._contracts = None
            self._load_problems = []

    def types(self) -> list[str]:
        """Every contract type with at least one loadable version, sorted."""
        return sorted({type_ for type_, _ in self._loaded()})

    def all(self) -> list[Contract]:
        """Every loaded contract, sorted by (type, version)."""
        contracts = self._loaded()
        return [contracts[key] for key in sorted(contracts)]

    def versions(self, type_: str) -> list[int]:
        """The versions of ``type_``, ascending (empty when unknown)."""
        return sorted(version for t, version in self._loaded() if t == type_)

    def get(self, type_: str, version: int | None = None) -> Contract | None:
        """Contract ``type_`` at ``version``; the highest version when ``version`` is None.

        Returns ``None`` for an unknown type or version; never raises.
        """
        if version is None:
            versions = self.versions(type_)
            return self._loaded()[(type_, versions[-1])] if versions else None
        if isinstance(version, bool) or not isinstance(version, int):
            return None
        return self._loaded().get((type_, version))

    def check(self) -> list[str]:
        """Problems in the catalog, as sentences; empty means every contract is sound.

        Checks: files load; schema valid per the 2020-12 metaschema with the canonical
        ``$schema`` and ``$id``; example validates; every ``x-identifiers`` entry is well
        formed, uses a known kind, is declared in the schema and resolves in the example;
        ``po_line`` entries carry a ``prefix_pointer``.
        """
        contracts = self.all()  # loads, filling _load_problems
        problems = list(self._load_problems)
        metaschema = Draft202012Validator(Draft202012Validator.META_SCHEMA)
        for contract in contracts:
            label = f"{contract.type} v{contract.version}"
            schema_errors = sorted(metaschema.iter_errors(contract.schema), key=str)
            for error in schema_errors:
                where = "/" + "/".join(str(p) for p in error.absolute_path)
                problems.append(f"{label}: schema invalid at {where}: {error.message}")
            if schema_errors:
                continue
            if contract.schema.get("$schema") != DRAFT_2020_12:
                problems.append(f"{label}: $schema must be {DRAFT_2020_12}")
            expected_id = schema_uri(contract.type, contract.version)
            if contract.schema.get("$id") != expected_id:
                problems.append(f"{label}: $id must be {expected_id}")
            for error in validate_data(contract, contract.example):
                problems.append(f"{label}: example invalid at {error.pointer}: {error.detail}")
            problems.extend(f"{label}: {p}" for p in _identifier_problems(contract))
            problems.extend(f"{label}: {p}" for p in _business_time_problems(contract))
        return problems


def _declared_in_schema(schema: Any, segments: list[str]) -> bool:
    """True when the path exists in the schema's ``properties`` / ``items`` tree."""
    node = schema
    for segment in segments:
        if not isinstance(node, dict):
            return False
        node = node.get("items") if segment == WILDCARD else node.get("properties", {}).get(segment)
    return isinstance(node, dict)


def _business_time_problems(contract: Contract) -> list[str]:
    """``x-business-time`` names a required top-level date-time property."""
    pointer = contract.schema.get("x-business-time")
    if pointer is None:
        return ["x-business-time must name the data's own time property, e.g. /received_at"]
    name = pointer[1:] if isinstance(pointer, str) and pointer.startswith("/") else ""
    declared = contract.schema.get("properties", {}).get(name)
    if not name or "/" in name or not isinstance(declared, dict) or declared.get("format") != "date-time":
        return [f"x-business-time {pointer!r} is not a top-level date-time property"]
    if name not in contract.schema.get("required", []):
        return [f"x-business-time {pointer!r} must be a required property"]
    return []


def _identifier_problems(contract: Contract) -> list[str]:
    raw = contract.schema.get("x-identifiers")
    if not isinstance(raw, dict) or not raw:
        return ["x-identifiers must be a non-empty object"]
    try:
        specs = identifier_specs(raw)
    except ValueError as exc:
        return [str(exc)]
    problems: list[str] = []
    for spec in specs:
        name = f"identifier {spec.pointer}"
        if spec.kind not in IDENTIFIER_KINDS:
            problems.append(f"{name}: unknown identifier kind {spec.kind!r}")
        if spec.kind == "po_line" and not spec.prefix_pointer:
            problems.append(f"{name}: po_line needs a prefix_pointer to the PO number")
        try:
            segments = parse_pointer(spec.pointer)
            prefix = parse_pointer(spec.prefix_pointer) if spec.prefix_pointer else None
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if not segments:
            problems.append(f"{name}: must point inside data, not at its root")
            continue
        if not _declared_in_schema(contract.schema, segments):
            problems.append(f"{name}: not declared in the schema's properties")
        matches = [(b, v) for b, v in resolve(contract.example, segments) if scalar_text(v)]
        if not matches:
            problems.append(f"{name}: not resolvable in the example")
        if prefix is None:
            continue
        if prefix.count(WILDCARD) > segments.count(WILDCARD):
            problems.append(f"{name}: prefix_pointer has more '*' than the pointer")
        if not _declared_in_schema(contract.schema, prefix):
            problems.append(f"{name}: prefix_pointer not declared in the schema's properties")
        for bound, _ in matches:
            if not any(scalar_text(v) for _, v in resolve(contract.example, bind(prefix, bound))):
                problems.append(f"{name}: prefix_pointer not resolvable in the example")
                break
    return problems


_default: ContractRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ContractRegistry:
    """The process-wide registry over :data:`SCHEMAS_DIR` (created on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ContractRegistry(SCHEMAS_DIR)
    return _default


def contract_types() -> list[str]:
    """Every contract type of the project, sorted."""
    return default_registry().types()


def contracts_all() -> list[Contract]:
    """Every version of every contract, sorted by (type, version)."""
    return default_registry().all()


def contract_get(type: str, version: int | None = None) -> Contract | None:
    """Contract ``type`` at ``version`` (latest when None), or ``None`` when unknown."""
    return default_registry().get(type, version)


def check_catalog() -> list[str]:
    """Problems in the project's contracts; empty = sound. See :meth:`ContractRegistry.check`."""
    return default_registry().check()
