"""Signals other apps subscribe to (the incidents app does, in its ready()).

- ``run_step_changed(run: dict, step: dict)``: a step of a recovery run or drill changed status.
- ``run_finished(run: dict)``: a run or drill finished; ``run["kind"] == "drill"`` with
  ``run["status"] == "failed"``, ``run["deviated"]``, or ``run["status"] == "inconclusive"`` and
  ``run["scheduled"]`` asks for a P2 incident. ``run["missing"]`` lists ``{what, hint}`` to configure.
- ``switch_overdue(flag: dict)``: read-only or maintenance mode has been on for longer than
  ``SWITCH_OVERDUE_AFTER_S`` and nobody turned it off (``{name, label, backends, enabled_at,
  changed_by, incident}``): asks for a P3 incident.
"""

from django.dispatch import Signal

run_step_changed = Signal()
run_finished = Signal()
switch_overdue = Signal()
