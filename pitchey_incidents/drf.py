"""DRF building blocks: token auth (``Token`` or ``Bearer``), roles, pagination (named in settings),
the JSON parser every request body goes through (bounded size and nesting), and the one way views read
a validated request body (its text cleaned of control characters).

Kept apart from ``api.py`` because DRF imports these while its views module is still loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import authentication, exceptions, pagination, parsers, permissions, serializers
from rest_framework.utils import json

from .roles import has_role
from .text import clean_controls, json_depth_over, strip_controls

if TYPE_CHECKING:  # DRF imports this module while its views module is still loading
    from rest_framework.request import Request
    from rest_framework.views import APIView


class TokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"


class BearerTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Bearer"


class RolePermission(permissions.BasePermission):
    """Reads need ``viewer``; writes need the view's ``write_role`` (default ``commander``);
    a view can name a role per action in ``action_roles``."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        role = self.required_role(request, view)
        return has_role(request.user, role)

    @staticmethod
    def required_role(request: Request, view: APIView) -> str:
        if request.method in permissions.SAFE_METHODS:
            return getattr(view, "read_role", "viewer")
        action = getattr(view, "action", None)
        return getattr(view, "action_roles", {}).get(action) or getattr(view, "write_role", "commander")


# JSON types as the schema states them: DRF alone would read 5 as "5" for text, or "yes" as true.
_JSON_TYPES: list[tuple[type[serializers.Field], tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "must be true or false"),
    (serializers.ChoiceField, (str,), "must be text"),
    (serializers.CharField, (str,), "must be text"),
    (serializers.IntegerField, (int,), "must be a whole number"),
    (serializers.FloatField, (int, float), "must be a number"),
]


def _type_error(field: serializers.Field, value: Any) -> str | None:
    """Why ``value`` is not of the JSON type ``field`` reads (or None): for lists and maps, per item."""
    if value is None:
        return None  # allow_null decides
    if isinstance(field, serializers.ListSerializer):  # nested objects, many: per item
        items = value if isinstance(value, list) else []
        return next((why for item in items if (why := _type_error(field.child, item))), None)
    if isinstance(field, serializers.Serializer):  # a nested object: the first field of the wrong type
        wrong = _field_type_errors(field, value)
        return next((f"{name}: {whys[0]}" for name, whys in wrong.items()), None)
    if isinstance(field, (serializers.ListField, serializers.DictField)):
        items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else []
        return next((why for item in items if (why := _type_error(field.child, item))), None)
    for kind, types, why in _JSON_TYPES:
        if isinstance(field, kind):
            wrong = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
            return why if wrong else None
    return None


def _field_type_errors(serializer: serializers.Serializer, data: Any) -> dict[str, list[str]]:
    if not isinstance(data, dict):
        return {}  # the serializer says what it expected
    errors = {}
    for name, field in serializer.fields.items():
        if not field.read_only and name in data and (why := _type_error(field, data[name])):
            errors[name] = [why]
    return errors


def strict_json_types(serializer: serializers.BaseSerializer) -> None:
    """A 400 naming each field whose value is not of the JSON type the field (and the schema) states;
    for a list body (``many=True``), per item by its index, as DRF reports a list's errors."""
    data = serializer.initial_data
    if isinstance(serializer, serializers.ListSerializer):
        items = enumerate(data) if isinstance(data, list) else ()
        errors = {i: wrong for i, item in items if (wrong := _field_type_errors(serializer.child, item))}
        if errors:
            raise serializers.ValidationError(errors)
        return
    if errors := _field_type_errors(serializer, data):
        raise serializers.ValidationError(errors)


def validated(serializer_class: type[serializers.Serializer], request: Request, **kwargs) -> Any:
    """The request body checked by ``serializer_class`` (a 400 naming each field when it does not pass,
    a value of the wrong JSON type included), every string in it without control characters other
    than tab and newline (``clean_controls``).

    Cleaned after the check, so lengths are judged on what the client sent (as the schema states them)."""
    serializer = serializer_class(data=request.data, **kwargs)
    strict_json_types(serializer)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return clean_controls(data if isinstance(data, list) else dict(data))


# The description of a list filter whose empty value means "no filter" (a form's empty choice).
ANY = "empty or absent: all"


class Pagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=`` (1 to ``max_page_size``; more is served as the maximum). A
    ``page_size`` that is not a whole number from 1 is a 400 naming it, never quietly the default."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise exceptions.ValidationError({self.page_size_query_param: ["must be a whole number from 1"]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "request_too_large"


def body_too_large(limit: int) -> str:
    """The one wording of a 413, naming the limit."""
    return f"body larger than {limit} bytes"


def read_limited(stream, limit: int) -> bytes:
    """At most ``limit`` bytes of ``stream``; ``RequestTooLarge`` (413 naming the limit) when there are more."""
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise RequestTooLarge(body_too_large(limit))
    return data


def loads_bounded(raw: bytes | str, *, strict: bool = True) -> Any:
    """JSON nested at most ``API_MAX_JSON_DEPTH`` deep; ``ParseError`` (400 naming ``body``) otherwise."""
    limit = settings.API_MAX_JSON_DEPTH
    too_deep = exceptions.ParseError({"body": [f"nests deeper than the limit of {limit} levels"]})
    try:
        data = json.loads(raw, parse_constant=json.strict_constant if strict else None)
    except RecursionError:
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise exceptions.ParseError({"body": [f"must be JSON ({exc})"]}) from None
    if json_depth_over(data, limit):
        raise too_deep
    return data


def clean_querydict(data: QueryDict) -> QueryDict:
    """A mutable copy of form data with ``strip_controls`` applied to every key and value."""
    cleaned = QueryDict(mutable=True)
    for key, values in data.lists():
        cleaned.setlist(strip_controls(key), [strip_controls(v) if isinstance(v, str) else v for v in values])
    return cleaned


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded: ``API_MAX_BODY_BYTES`` (413) and ``API_MAX_JSON_DEPTH`` (400)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = read_limited(stream, settings.API_MAX_BODY_BYTES)
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise exceptions.ParseError({"body": [f"must be {encoding} text"]}) from None
        return loads_bounded(text, strict=self.strict)
