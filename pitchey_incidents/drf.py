"""DRF building blocks: token auth (``Token`` or ``Bearer``), roles, pagination (named in settings), and
the one way views read a validated request body.

Kept apart from ``api.py`` because DRF imports these while its views module is still loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import authentication, pagination, permissions, serializers

from .roles import has_role

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
