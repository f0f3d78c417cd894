"""The request type of our views: django-htmx's middleware gives every request ``request.htmx``."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For type hints only: what a view receives."""

    htmx: HtmxDetails
