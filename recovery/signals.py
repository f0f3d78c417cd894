"""Signals other apps subscribe to (the incidents app does, in its ready()).

- ``run_step_changed(run: dict, step: dict)``: a step of a recovery run or drill changed status.
- ``run_finished(run: dict)``: a run or drill finished; ``run["kind"] == "drill"`` with
  ``run["status"] == "failed"``, ``run["deviated"]``, or ``run["status"] == "inconclusive"`` and
  ``run["scheduled"]`` asks for a P2 incident. ``run["missing"]`` lists ``{what, hint}`` to configure.
"""

from django.dispatch import Signal

run_step_changed = Signal()
run_finished = Signal()
