"""Imported as ``sitecustomize`` by every Python process of ``make test-any-date`` (the suite under libfaketime).

The suite runs with the wall clock moved and the monotonic clock left alone (``faketime --exclude-monotonic``):
moving the monotonic clock too makes every timed lock wait (``threading.Event().wait(0.5)``) block for good,
and a year back it would be negative. libfaketime 0.9.10 still shifts the absolute deadline that
``time.sleep`` hands to ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`` by the fake offset, which fails
with EINVAL. Here ``time.sleep`` waits with select(), whose timeout is relative. Nothing else changes.
"""

from __future__ import annotations

import os
import select
import time

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep
