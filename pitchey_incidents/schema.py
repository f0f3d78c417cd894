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
