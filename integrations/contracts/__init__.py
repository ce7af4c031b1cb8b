"""Canonical event contracts: versioned JSON Schemas for the CloudEvents the tower ingests.

A CloudEvent's ``type`` names a contract (``schemas/<type>/v<N>.schema.json``) and its
``data`` must validate against it. Pure Python; importable without Django settings.

Typical use::

    contract = contract_get(event["type"], version_from_dataschema(event.get("dataschema")))
    errors = validate_data(contract, event["data"])  # [FieldError("/data/lines/0/unit", ...)]
    refs = extract_identifiers(contract, event["data"])  # [("purchase_order", "4500012345"), ...]
"""

from __future__ import annotations

from .identifiers import IDENTIFIER_KINDS, IdentifierSpec, extract_identifiers
from .registry import (
    SCHEMAS_DIR,
    Contract,
    ContractRegistry,
    check_catalog,
    contract_get,
    contract_types,
    contracts_all,
    default_registry,
    schema_uri,
    version_from_dataschema,
)
from .validation import FORMAT_CHECKER, FieldError, validate_data

__all__ = [
    "FORMAT_CHECKER",
    "IDENTIFIER_KINDS",
    "SCHEMAS_DIR",
    "Contract",
    "ContractRegistry",
    "FieldError",
    "IdentifierSpec",
    "check_catalog",
    "contract_get",
    "contract_types",
    "contracts_all",
    "default_registry",
    "extract_identifiers",
    "schema_uri",
    "validate_data",
    "version_from_dataschema",
]
