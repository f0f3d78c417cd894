"""OpenAPI descriptions of our two token schemes (``Token <key>`` and ``Bearer <key>``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "pitchey_incidents.drf.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`, as printed by `manage.py createuser`.",
        }


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "pitchey_incidents.drf.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "The same API token as a bearer token."}


# --- Error answers, declared on every operation ---------------------------------------------------
# What the API answers besides success (README, API): 400 names each bad field, 401/403 auth, 404
# unknown id (or page), 409 a refused transition with the current status, 413 a body over the limit,
# 415 a body that is not JSON or a form. Added by a hook so no operation can forget one.
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` for the whole request, or one list of messages per bad field.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,  # a list of messages, or per item / per key for lists and maps
}
CONFLICT_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "status": {"type": "string"}},
    "required": ["detail"],
}
ERRORS = {
    "400": ("Bad input: names each bad field", "Error"),
    "401": ("No valid credentials", "Error"),
    "403": ("Authenticated, but the role does not allow it", "Error"),
    "404": ("No such object (or page)", "Error"),
    "409": ("Refused in the current state (a transition the state machine forbids names the status)", "Conflict"),
    "413": ("Body larger than the limit, which the message names", "Error"),
    "415": ("Body in a media type the API does not read", "Error"),
}
WRITES = {"post", "put", "patch", "delete"}


def _error_codes(method: str, operation: dict) -> list[str]:
    codes = ["400", "401", "403", "404"]
    if method in WRITES:
        codes.append("409")
    if "requestBody" in operation:
        codes += ["413", "415"]
    return codes


def declare_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the error answers above on every API operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    schemas.setdefault("Conflict", CONFLICT_SCHEMA)
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in WRITES | {"get"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in _error_codes(method, operation):
                description, schema = ERRORS[code]
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                    },
                )
    return result
