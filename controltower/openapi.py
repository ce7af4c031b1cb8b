"""OpenAPI additions: the bearer-token scheme and the problem-details errors every call may answer."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "example": "/problems/validation-error"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {
                        "type": "string",
                        "description": "JSON pointer (RFC 6901) to the failing field.",
                    },
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
COMMON_ERRORS = {
    "400": "Invalid input; `errors` names each failing field.",
    "401": "Missing, unknown, revoked or expired token.",
    "403": "Your role or plant/supplier scope does not allow this.",
    "404": "Not found, or outside your scope.",
    "429": "Rate limited; see `Retry-After`.",
    "503": "The database cannot be reached; nothing was stored. Retry after `Retry-After` seconds.",
}
# Only where there is a body to send.
BODY_ERRORS = {"415": "The body's content type is not one this operation takes (see its request body)."}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "controltower.accounts.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal token (`ctu_…`) or a source-system token.",
        }


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents its problem+json error responses — the
    common ones, 415 where it takes a body, and a problem body on every error a view names."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            errors = {**COMMON_ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for code, description in errors.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = {"application/problem+json": {"schema": ref}}
    return result
