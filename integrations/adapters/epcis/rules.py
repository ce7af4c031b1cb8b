"""The EPCIS 2.0 JSON/JSON-LD structure, as the project's own JSON schema (draft-07).

GS1 publishes a JSON schema for EPCIS 2.0 documents, but without an open licence, so it is not
shipped. This schema is written here from the facts of the EPCIS 2.0 standard (section 7 and
the JSON/JSON-LD binding): which fields each event type has, which are required, their types
(URI, date-time, number), and that any other field must be a namespaced extension
(``example:myField``). Checked against GS1's schema in the local conformance tests: every
document GS1's schema refuses is refused here too.

Vocabulary values (bizStep, disposition, source/destination and business transaction types,
error reasons) are only required to be strings here: :mod:`.vocabulary` judges them, more
strictly than a schema can (a bare word that is no CBV term is refused, the EPCIS 1.x URN
spelling of a CBV term is understood).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from integrations.contracts import FieldError
from integrations.contracts.validation import json_pointer

from .schema import SCHEMA_FORMAT_CHECKER

__all__ = ["EPCIS_SCHEMA", "epcis_document_errors"]

_MAX_DETAIL = 300

URI: dict = {"type": "string", "format": "uri"}
TIME: dict = {"type": "string", "format": "date-time"}
TERM: dict = {"type": "string"}  # a CBV term or URI: judged by vocabulary.cbv_term
NUMBER: dict = {"type": "number"}
# A field that is not in the standard must be an extension named by a URI or a compact IRI
# (``prefix:name``): a bare name would be dropped by JSON-LD processing.
EXTENSION_NAME: dict = {"type": "string", "format": "uri"}


def _object(
    properties: dict[str, Any], *, required: tuple[str, ...] = (), extensible: bool = True, **more: Any
) -> dict:
    """An object with ``properties``; other keys are namespaced extensions, or (closed) none."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = list(required)
    if extensible:
        schema["propertyNames"] = {"anyOf": [{"enum": sorted(properties)}, EXTENSION_NAME]}
    else:
        schema["additionalProperties"] = False
    return schema


def _array(items: dict, *, min_items: int = 0, unique: bool = False) -> dict:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if min_items:
        schema["minItems"] = min_items
    if unique:
        schema["uniqueItems"] = True
    return schema


def _non_empty(*keys: str) -> list[dict]:
    """One alternative per key: the key is present with at least one item."""
    return [{"required": [key], "properties": {key: {"minItems": 1}}} for key in keys]


QUANTITY_ELEMENT = _object(
    {"epcClass": URI, "quantity": NUMBER, "uom": {"type": "string", "pattern": "^[A-Z0-9]{2,3}$"}},
    required=("epcClass",),
    extensible=False,
)
EPC_LIST = _array(URI, unique=True)
QUANTITY_LIST = _array(QUANTITY_ELEMENT)
LOCATION = _object({"id": URI}, required=("id",))
BIZ_TRANSACTION = _object(
    {"type": TERM, "bizTransaction": URI}, required=("bizTransaction",), extensible=False
)
SOURCE = _object({"type": TERM, "source": URI}, required=("type", "source"), extensible=False)
DESTINATION = _object({"type": TERM, "destination": URI}, required=("type", "destination"), extensible=False)
PERSISTENT_DISPOSITION = {
    **_object(
        {"set": _array(TERM, min_items=1, unique=True), "unset": _array(TERM, min_items=1, unique=True)},
        extensible=False,
    ),
    "anyOf": [{"required": ["set"]}, {"required": ["unset"]}],
    "message": "needs set or unset",
}
ERROR_DECLARATION = _object(
    {"declarationTime": TIME, "reason": TERM, "correctiveEventIDs": _array(URI)},
    required=("declarationTime",),
)
# GS1 Web Vocabulary terms must be known ones; a user vocabulary may add its own URIs.
_NOT_GS1_VOC = {"type": "string", "format": "uri", "not": {"pattern": "^https?://(www\\.)?gs1\\.org/voc/"}}
MEASUREMENT_TYPES = """AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Radioactivity Altitude
AmountOfSubstance AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum AngularVelocity
Area Capacitance Conductance Conductivity Count Density Dimensionless DoseEquivalent DoseEquivalentRate
DynamicViscosity ElectricCharge ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy
Exposure Force Frequency Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum
Luminance LuminousFlux LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass
MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy MolarMass
MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity Resistance Resistivity SolidAngle
SpecificVolume Speed SurfaceDensity SurfaceTension Temperature Time Torque Voltage Volume VolumeFlowRate
VolumeFraction VolumetricFlux Wavenumber""".split()
COMPONENTS = """x y z axial_distance azimuth height spherical_radius polar_angle elevation_angle easting
northing latitude longitude altitude""".split()
SENSOR_METADATA = _object(
    {
        "time": TIME,
        "startTime": TIME,
        "endTime": TIME,
        **{key: URI for key in ("deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules")},
    }
)
SENSOR_REPORT = _object(
    {
        "type": {"anyOf": [{"enum": MEASUREMENT_TYPES}, _NOT_GS1_VOC]},
        "exception": {"anyOf": [{"enum": ["ALARM_CONDITION", "ERROR_CONDITION"]}, _NOT_GS1_VOC]},
        "component": {"anyOf": [{"enum": COMPONENTS}, URI]},
        "time": TIME,
        "stringValue": {"type": "string"},
        "booleanValue": {"type": "boolean"},
        "hexBinaryValue": {"type": "string", "pattern": "^[A-Fa-f0-9]+$"},
        "uom": {"type": "string"},
        **{
            key: URI
            for key in (
                "deviceID",
                "deviceMetadata",
                "rawData",
                "dataProcessingMethod",
                "bizRules",
                "microorganism",
                "chemicalSubstance",
                "coordinateReferenceSystem",
                "uriValue",
            )
        },
        **{
            key: NUMBER
            for key in ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue")
        },
    },
    required=("type",),
)
SENSOR_ELEMENT = _object(
    {"sensorMetadata": SENSOR_METADATA, "sensorReport": _array(SENSOR_REPORT, min_items=1)},
    required=("sensorReport",),
)
ILMD = {"type": "object", "propertyNames": EXTENSION_NAME}
CONTEXT = {
    "anyOf": [URI, {"type": "object"}, _array({"anyOf": [URI, {"type": "object"}]}, unique=True)],
    "message": "must be the JSON-LD context: a URI, an object, or an array of them",
}

#: Fields every event may carry (EPCIS 2.0 section 7.4.1).
COMMON = {
    "@context": CONTEXT,
    "type": {"type": "string"},
    "eventTime": TIME,
    "recordTime": TIME,
    "eventTimeZoneOffset": {"type": "string", "pattern": "^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$"},
    "eventID": URI,
    "certificationInfo": {"anyOf": [URI, _array(URI)], "message": "must be a URI or an array of URIs"},
    "errorDeclaration": ERROR_DECLARATION,
}
WHY = {
    "bizStep": TERM,
    "disposition": TERM,
    "readPoint": LOCATION,
    "bizLocation": LOCATION,
    "bizTransactionList": _array(BIZ_TRANSACTION),
    "sourceList": _array(SOURCE),
    "destinationList": _array(DESTINATION),
    "sensorElementList": _array(SENSOR_ELEMENT),
}
ACTION = {"enum": ["ADD", "OBSERVE", "DELETE"]}
_DELETE = {"required": ["action"], "properties": {"action": {"const": "DELETE"}}}


def _event(properties: dict, *, required: tuple[str, ...], what: dict | None = None) -> dict:
    schema = _object(
        {**COMMON, **WHY, **properties}, required=("eventTime", "eventTimeZoneOffset", *required)
    )
    return {**schema, "allOf": [what]} if what else schema


OBJECT_EVENT = _event(
    {
        "action": ACTION,
        "epcList": EPC_LIST,
        "quantityList": QUANTITY_LIST,
        "persistentDisposition": PERSISTENT_DISPOSITION,
        "ilmd": ILMD,
    },
    required=("action",),
    what={
        "anyOf": [
            {"required": ["epcList"]},
            *_non_empty("quantityList"),
            {"allOf": [*_non_empty("sensorElementList"), {"required": ["readPoint"]}]},
        ],
        "message": "an ObjectEvent needs an epcList, a quantityList, or sensor data with a readPoint",
    },
)
# Instance/lot master data describes objects as they come into being: only with action ADD.
OBJECT_EVENT["if"] = {"required": ["ilmd"]}
OBJECT_EVENT["then"] = {
    "properties": {"action": {"const": "ADD", "message": "must be ADD when the event carries ilmd"}}
}
AGGREGATION_EVENT = _event(
    {"action": ACTION, "parentID": URI, "childEPCs": _array(URI), "childQuantityList": QUANTITY_LIST},
    required=("action",),
    what={
        "anyOf": [*_non_empty("childEPCs", "childQuantityList"), _DELETE],
        "message": "an AggregationEvent needs childEPCs or a childQuantityList (unless action is DELETE)",
    },
)
ASSOCIATION_EVENT = _event(
    {"action": ACTION, "parentID": URI, "childEPCs": _array(URI), "childQuantityList": QUANTITY_LIST},
    required=("action", "parentID"),
    what={
        "anyOf": [*_non_empty("childEPCs", "childQuantityList"), _DELETE],
        "message": "an AssociationEvent needs childEPCs or a childQuantityList (unless action is DELETE)",
    },
)
TRANSACTION_EVENT = _event(
    {
        "action": ACTION,
        "parentID": URI,
        "epcList": _array(URI),
        "quantityList": QUANTITY_LIST,
        "bizTransactionList": _array(BIZ_TRANSACTION, min_items=1),
    },
    required=("action", "bizTransactionList"),
    what={
        "anyOf": [{"required": ["epcList"]}, *_non_empty("quantityList"), _DELETE],
        "message": "a TransactionEvent needs an epcList or a quantityList (unless action is DELETE)",
    },
)
_INPUTS, _OUTPUTS = ("inputEPCList", "inputQuantityList"), ("outputEPCList", "outputQuantityList")
TRANSFORMATION_EVENT = _event(
    {
        "inputEPCList": EPC_LIST,
        "inputQuantityList": QUANTITY_LIST,
        "outputEPCList": EPC_LIST,
        "outputQuantityList": QUANTITY_LIST,
        "transformationID": URI,
        "persistentDisposition": PERSISTENT_DISPOSITION,
        "ilmd": ILMD,
    },
    required=(),
    what={
        "anyOf": [
            {"allOf": [{"anyOf": _non_empty(*_INPUTS)}, {"anyOf": _non_empty(*_OUTPUTS)}]},
            {"allOf": [{"anyOf": _non_empty(*_INPUTS, *_OUTPUTS)}, {"required": ["transformationID"]}]},
        ],
        "message": (
            "a TransformationEvent needs inputs and outputs, or a transformationID with inputs or outputs"
        ),
    },
)
EVENT_TYPES = {
    "ObjectEvent": OBJECT_EVENT,
    "AggregationEvent": AGGREGATION_EVENT,
    "AssociationEvent": ASSOCIATION_EVENT,
    "TransactionEvent": TRANSACTION_EVENT,
    "TransformationEvent": TRANSFORMATION_EVENT,
}
# An extension event type is named by a URI; it has the common fields and any extensions.
EXTENSION_EVENT = {
    "type": "object",
    "properties": {**COMMON, "type": URI},
    "required": ["eventTime", "eventTimeZoneOffset"],
}


def _by_type(schemas: dict[str, dict], otherwise: dict) -> dict:
    """Apply the schema of the event's ``type`` (if/then chains keep each error at its event)."""
    cases = [
        {"if": {"required": ["type"], "properties": {"type": {"const": name}}}, "then": schema}
        for name, schema in schemas.items()
    ]
    cases.append({"if": {"properties": {"type": {"not": {"enum": sorted(schemas)}}}}, "then": otherwise})
    return {"type": "object", "required": ["type"], "allOf": cases}


EVENT = _by_type(EVENT_TYPES, EXTENSION_EVENT)
VOCABULARY_ELEMENT = _object(
    {
        "id": URI,
        "attributes": _array(
            _object({"id": URI, "attribute": {"type": ["number", "string", "object"]}}, required=("id",))
        ),
        "children": _array(URI),
    },
    required=("id",),
)
VOCABULARY_LIST = _array(
    _object({"type": URI, "vocabularyElementList": _array(VOCABULARY_ELEMENT)}, required=("type",))
)
EPCIS_HEADER = _object(
    {"epcisMasterData": {"type": "object", "properties": {"vocabularyList": VOCABULARY_LIST}}}
)
DOCUMENT = _object(
    {
        "@context": CONTEXT,
        "type": {"const": "EPCISDocument"},
        "id": URI,
        "schemaVersion": {"type": "string", "pattern": "^\\d+(\\.\\d+)*$"},
        "creationDate": TIME,
        "instanceIdentifier": {"type": "string"},
        "sender": {"type": "string"},
        "receiver": {"type": "string"},
        "epcisHeader": EPCIS_HEADER,
        "epcisBody": {
            "type": "object",
            "properties": {"eventList": _array(EVENT)},
            "required": ["eventList"],
        },
    },
    required=("@context", "type", "schemaVersion", "creationDate", "epcisBody"),
)
#: A query's (or a subscription's) results: the events sit in the results body, and only the
#: context, type and body are required (EPCIS 2.0 query interface, JSON binding).
QUERY_DOCUMENT = _object(
    {
        "@context": CONTEXT,
        "type": {"const": "EPCISQueryDocument"},
        "id": URI,
        "schemaVersion": {"type": "string", "pattern": "^\\d+(\\.\\d+)*$"},
        "creationDate": TIME,
        "epcisBody": _object(
            {
                "queryResults": _object(
                    {
                        "queryName": {"type": "string"},
                        "subscriptionID": {"type": "string"},
                        "resultsBody": _object(
                            {"eventList": _array(EVENT), "vocabularyList": VOCABULARY_LIST},
                            required=("eventList",),
                        ),
                    },
                    required=("queryName", "resultsBody"),
                )
            },
            required=("queryResults",),
        ),
    },
    required=("@context", "type", "epcisBody"),
)
#: A capture document: an EPCISDocument or EPCISQueryDocument, or one event on its own (which
#: then needs its @context).
EPCIS_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["type"],
    "if": {"properties": {"type": {"const": "EPCISDocument"}}},
    "then": DOCUMENT,
    "else": {
        "if": {"properties": {"type": {"const": "EPCISQueryDocument"}}},
        "then": QUERY_DOCUMENT,
        "else": {"allOf": [EVENT, {"required": ["@context"]}]},
    },
}

_VALIDATOR = Draft7Validator(EPCIS_SCHEMA, format_checker=SCHEMA_FORMAT_CHECKER)


def _fields(error: ValidationError) -> list[FieldError]:
    """One or more errors at the pointer of the offending field, in plain words."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return [FieldError(json_pointer([*path, key], prefix=""), "is required") for key in missing]
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        return [
            FieldError(json_pointer([*path, key], prefix=""), "is not a field here")
            for key in error.instance
            if key not in allowed
        ]
    if "propertyNames" in error.absolute_schema_path:  # the error is about a key, not a value
        key = str(error.instance)
        detail = f"is no field of the standard here and has no namespace prefix (expected e.g. example:{key})"
        return [FieldError(json_pointer([*path, key], prefix=""), detail)]
    message = error.schema.get("message") if isinstance(error.schema, dict) else None
    if error.validator == "format":
        message = f"must be {'an RFC 3339 date-time' if error.validator_value == 'date-time' else 'a URI'}"
        message += f" (got {error.instance!r})"
    detail = message or error.message
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    return [FieldError(json_pointer(path, prefix=""), detail)]


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors to report: the innermost of nested if/then and allOf; anyOf/oneOf as one."""
    if error.validator in ("allOf", "if", "then") and error.context:
        return [leaf for child in error.context for leaf in _leaves(child)]
    return [error]


def epcis_document_errors(document: Any) -> list[FieldError]:
    """Every structural problem of an EPCIS capture ``document`` (an EPCISDocument, an
    EPCISQueryDocument or one event).

    Guarantees: empty when the document has the structure EPCIS 2.0 prescribes; otherwise each
    problem once, at the JSON pointer of the offending field (a missing field: the field's own
    pointer), sorted by pointer. Never raises.
    """
    found: set[FieldError] = set()
    for error in _VALIDATOR.iter_errors(document):
        for leaf in _leaves(error):
            found.update(_fields(leaf))
    return sorted(found, key=lambda e: (e.pointer, e.detail))
