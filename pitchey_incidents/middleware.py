from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired
from django.http import JsonResponse
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware

from .drf import body_too_large, clean_querydict
from .models import UserPreference
from .zones import TZ_SESSION_KEY

# Paths whose views authenticate on their own: the API (tokens, 401/403 as JSON), alert intake
# (per-source secrets), probes of our own liveness, and the public status page.
OWN_AUTH_PREFIXES = ("/api/", "/healthz", "/readyz", "/static/", "/metrics")


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every page needs a login, except views marked ``@login_not_required`` and the paths above."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(OWN_AUTH_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


# Alert intake bounds its deliveries itself, with ALERT_MAX_BODY_BYTES (the same 413).
API_BODY_LIMIT_EXEMPT = ("/api/v1/alerts/",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyLimitMiddleware:
    """One request-size limit for the API: a declared body over ``API_MAX_BODY_BYTES`` is a JSON 413
    naming the limit, before anything reads it (the JSON parser also stops at the limit when the size
    was not declared). Page forms: their text loses control characters before any view reads it.
    Async-capable without a thread hop, so event streams pass straight through."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self.refuse(request) or self.get_response(request)

    async def __acall__(self, request):
        return self.refuse(request) or await self.get_response(request)

    @staticmethod
    def refuse(request) -> JsonResponse | None:
        if not request.path.startswith("/api/") or request.path.startswith(API_BODY_LIMIT_EXEMPT):
            return None
        limit = settings.API_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length must be a number"}, status=400)
        if declared > limit:
            return JsonResponse({"detail": body_too_large(limit)}, status=413)
        return None

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Page forms only: views that check a signature over the raw body are CSRF-exempt and skipped."""
        if request.method != "POST" or getattr(view_func, "csrf_exempt", False):
            return None
        if request.path.startswith(OWN_AUTH_PREFIXES) or not request.content_type.startswith(FORM_TYPES):
            return None
        request.POST = clean_querydict(request.POST)
        return None


def _zone_name(request) -> str | None:
    """The signed-in person's time zone (UTC unless chosen), remembered in the session after one look-up."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    session = getattr(request, "session", None)
    name = session.get(TZ_SESSION_KEY) if session is not None else None
    if name is None:
        name = UserPreference.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first() or "UTC"
        if session is not None:
            session[TZ_SESSION_KEY] = name
    return name


def _activate(name: str | None) -> None:
    try:
        timezone.activate(ZoneInfo(name)) if name else timezone.deactivate()
    except (ZoneInfoNotFoundError, ValueError):
        timezone.deactivate()


@sync_and_async_middleware
def UserTimeZoneMiddleware(get_response):  # noqa: N802 (a middleware factory, named as Django lists it)
    """Shows each person times in their own zone: activates it for the request, so ``format_timestamp``
    and the ``timestamp`` filter write it with its name. Async-capable, so event streams hold no thread."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            _activate(await sync_to_async(_zone_name)(request))
            try:
                return await get_response(request)
            finally:
                timezone.deactivate()

    else:

        def middleware(request):
            _activate(_zone_name(request))
            try:
                return get_response(request)
            finally:
                timezone.deactivate()

    return middleware
