"""DRF building blocks: token auth (``Token`` or ``Bearer``), roles, pagination (named in settings),
the parsers every request body goes through (bounded size and nesting, control characters cleaned), and
the one way views read a validated request body.

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


def validated(serializer_class: type[serializers.Serializer], request: Request, **kwargs) -> dict:
    """The request body checked by ``serializer_class`` (a 400 naming each field when it does not pass)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


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
    """JSON nested at most ``API_MAX_JSON_DEPTH`` deep, its strings cleaned of control characters.
    ``ParseError`` (400 naming ``body``) otherwise."""
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
    return clean_controls(data)


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


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None) -> QueryDict:
        return clean_querydict(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None) -> parsers.DataAndFiles:
        parsed = super().parse(stream, media_type, parser_context)
        return parsers.DataAndFiles(clean_querydict(parsed.data), parsed.files)
