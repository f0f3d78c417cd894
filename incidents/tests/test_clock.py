"""The tests' clock: it moves what the code reads as "now", model defaults included (an incidents model's, so
the test lives here, above every layer it touches), and gives it all back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from conftest import Clock


def test_clock_sets_model_defaults_and_gives_them_back():
    # Looked up by name: the ground floor imports no app above it (import-linter).
    notification = apps.get_model("incidents", "Notification")
    field = notification._meta.get_field("next_attempt_at")  # default=timezone.now: the function itself
    then = datetime(2020, 2, 29, 12, 0, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as mp:
        clock = Clock(mp, then)
        assert timezone.now() == field.get_default() == then
        clock.advance(minutes=5)
        assert field.get_default() == then + timedelta(minutes=5)
    # Afterwards the default is the wall clock again, not the last time the clock showed.
    assert abs(field.get_default() - timezone.now()) < timedelta(minutes=1)
