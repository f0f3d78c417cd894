from django.http import HttpRequest

from .roles import has_role, role_of


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    return {
        "role": role_of(user),
        "can_respond": has_role(user, "responder"),
        "can_command": has_role(user, "commander"),
        "is_admin": has_role(user, "admin"),
    }
