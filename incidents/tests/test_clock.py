"""The tests' clock: it moves what the code reads as "now", model defaults included, and gives it all back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from conftest import Clock
from incidents.comms.models import Notification


def test_clock_sets_model_defaults_and_gives_them_back():
    field = Notification._meta.get_field("next_attempt_at")  # default=timezone.now: the function itself
    then = datetime(2020, 2, 29, 12, 0, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as mp:
        clock = Clock(mp, then)
        assert timezone.now() == field.get_default() == then
        clock.advance(minutes=5)
        assert field.get_default() == then + timedelta(minutes=5)
    # Afterwards the default is the wall clock again, not the last time the clock showed.
    assert abs(field.get_default() - timezone.now()) < timedelta(minutes=1)
