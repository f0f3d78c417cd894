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
