"""Structural checks of one EPCIS event that the mapping does not read but must not let pass.

They cover the fields whose values the EPCIS JSON schema cannot judge (CBV terms in persistent
dispositions and error reasons, namespaced ``ilmd`` fields) and the shapes the mapping iterates
(EPC and quantity lists), so later steps can rely on them. Each problem has its JSON pointer.
"""

from __future__ import annotations

import math
import re

from integrations.contracts import FieldError
from integrations.contracts.validation import json_pointer

from .vocabulary import DISPOSITIONS, ERROR_REASONS, cbv_term

__all__ = ["EPC_LISTS", "QUANTITY_LISTS", "objects", "structural_errors"]

EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_UOM = re.compile(r"^[A-Z0-9]{2,3}$")


def objects(raw: dict, key: str, pointer: str) -> tuple[list[tuple[int, dict]], list[FieldError]]:
    """The (index, object) items of the optional array ``raw[key]``, with errors for the rest."""
    value = raw.get(key)
    if value is None:
        return [], []
    if not isinstance(value, list):
        return [], [FieldError(f"{pointer}/{key}", "must be an array")]
    items = [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]
    errors = [
        FieldError(f"{pointer}/{key}/{i}", "must be an object")
        for i, item in enumerate(value)
        if not isinstance(item, dict)
    ]
    return items, errors


def _check_persistent_disposition(raw: dict, pointer: str) -> list[FieldError]:
    value = raw.get("persistentDisposition")
    if value is None:
        return []
    if not isinstance(value, dict):
        return [FieldError(f"{pointer}/persistentDisposition", "must be an object with set and/or unset")]
    errors: list[FieldError] = []
    for key in ("set", "unset"):
        terms = value.get(key, [])
        if not isinstance(terms, list):
            errors.append(FieldError(f"{pointer}/persistentDisposition/{key}", "must be an array"))
            continue
        for index, term in enumerate(terms):
            reason = cbv_term(term, DISPOSITIONS)[1]
            if reason:
                errors.append(FieldError(f"{pointer}/persistentDisposition/{key}/{index}", reason))
    return errors


def _check_error_declaration(raw: dict, pointer: str) -> list[FieldError]:
    value = raw.get("errorDeclaration")
    if value is None:
        return []
    if not isinstance(value, dict):
        return [FieldError(f"{pointer}/errorDeclaration", "must be an object")]
    if value.get("reason") is None:
        return []
    reason = cbv_term(value["reason"], ERROR_REASONS)[1]
    return [FieldError(f"{pointer}/errorDeclaration/reason", reason)] if reason else []


def _check_locations(raw: dict, pointer: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("readPoint", "bizLocation"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("id"), str)):
            errors.append(FieldError(f"{pointer}/{key}", "must be an object with an id (a URI)"))
    return errors


def _check_epcs(raw: dict, pointer: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if "parentID" in raw and not isinstance(raw["parentID"], str):
        errors.append(FieldError(f"{pointer}/parentID", "must be a URI"))
    for key in EPC_LISTS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            errors.append(FieldError(f"{pointer}/{key}", "must be an array of EPC URIs"))
            continue
        errors += [
            FieldError(f"{pointer}/{key}/{i}", "must be an EPC URI")
            for i, v in enumerate(value)
            if not isinstance(v, str)
        ]
    return errors


def _check_quantity_element(item: dict, where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(item.get("epcClass"), str):
        errors.append(
            FieldError(f"{where}/epcClass", "is required" if "epcClass" not in item else "must be a URI")
        )
    quantity = item.get("quantity")
    if "quantity" in item and (isinstance(quantity, bool) or not isinstance(quantity, int | float)):
        errors.append(FieldError(f"{where}/quantity", "must be a number"))
    elif isinstance(quantity, float) and not math.isfinite(quantity):  # Python's json accepts NaN
        errors.append(FieldError(f"{where}/quantity", "must be a finite number"))
    elif isinstance(quantity, int | float) and quantity < 0:
        errors.append(FieldError(f"{where}/quantity", "must not be negative"))
    if "uom" in item and not (isinstance(item["uom"], str) and _UOM.match(item["uom"])):
        errors.append(FieldError(f"{where}/uom", "must be a UN/ECE Recommendation 20 unit code such as KGM"))
    return errors


def _check_quantities(raw: dict, pointer: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in QUANTITY_LISTS:
        items, problems = objects(raw, key, pointer)
        errors += problems
        for index, item in items:
            errors += _check_quantity_element(item, f"{pointer}/{key}/{index}")
    return errors


def _check_ilmd(raw: dict, pointer: str) -> list[FieldError]:
    """ILMD fields are user extensions and must be namespaced, or JSON-LD silently drops them."""
    value = raw.get("ilmd")
    if value is None:
        return []
    if not isinstance(value, dict):
        return [FieldError(f"{pointer}/ilmd", "must be an object")]
    return [
        FieldError(
            json_pointer([key], prefix=f"{pointer}/ilmd"),
            f"has no namespace prefix (expected e.g. example:{key})",
        )
        for key in value
        if ":" not in key
    ]


def _check_has_objects(raw: dict, pointer: str, epcis_type: str | None) -> list[FieldError]:
    """Object and aggregation events must say what they are about (EPCIS 2.0 section 7.4)."""
    if epcis_type == "ObjectEvent":
        if (
            "epcList" in raw
            or raw.get("quantityList")
            or (raw.get("sensorElementList") and "readPoint" in raw)
        ):
            return []
        return [FieldError(pointer, "an ObjectEvent needs an epcList or a quantityList")]
    if epcis_type == "AggregationEvent":
        if raw.get("childEPCs") or raw.get("childQuantityList") or raw.get("action") == "DELETE":
            return []
        return [FieldError(pointer, "an AggregationEvent needs childEPCs or a childQuantityList")]
    return []


def structural_errors(raw: dict, pointer: str, epcis_type: str | None) -> list[FieldError]:
    """Every structural problem of the event ``raw`` at ``pointer``; empty when sound. Never raises."""
    errors: list[FieldError] = []
    for check in (
        _check_persistent_disposition,
        _check_error_declaration,
        _check_locations,
        _check_epcs,
        _check_quantities,
        _check_ilmd,
    ):
        errors += check(raw, pointer)
    return errors + _check_has_objects(raw, pointer, epcis_type)
