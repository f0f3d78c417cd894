from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired

# Paths whose views authenticate on their own: the API (tokens, 401/403 as JSON), alert intake
# (per-source secrets), probes of our own liveness, and the public status page.
OWN_AUTH_PREFIXES = ("/api/", "/healthz", "/readyz", "/static/", "/metrics")


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every page needs a login, except views marked ``@login_not_required`` and the paths above."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(OWN_AUTH_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


TZ_SESSION_KEY = "time_zone"


class UserTimeZoneMiddleware:
    """Shows each person times in their own zone (their preference, UTC unless set): activates it for
    the request, so ``format_timestamp`` and the ``timestamp`` filter write it with its name. The zone
    is remembered in the session after the first look-up."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from django.utils import timezone

        name = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session = getattr(request, "session", None)
            name = session.get(TZ_SESSION_KEY) if session is not None else None
            if name is None:
                from .models import UserPreference

                pref = UserPreference.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
                name = pref or "UTC"
                if session is not None:
                    session[TZ_SESSION_KEY] = name
        if name:
            try:
                timezone.activate(ZoneInfo(name))
            except (ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
