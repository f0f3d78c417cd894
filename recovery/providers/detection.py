"""The detection drill (the runbook's scenario 2): errors injected into a scratch endpoint the drill
serves, whose health follows the scratch Worker's live version; the rule fires, the chain acts on the
scratch Worker for real, the incident resolves, the scratch Worker is put back. Without a scratch Worker
the step is skipped (the run inconclusive) and names what to set. The incidents app owns detection and
registers the drill (``hooks.detection_drill``)."""

from __future__ import annotations

from .. import hooks
from .base import Outcome, Provider, register


@register
class Detection(Provider):
    name = "detection"
    label = "Detection"
    idempotent = frozenset({"scenario"})

    def available(self):
        return (True, "") if hooks.get("detection_drill") else (False, "the incidents app is not installed")

    def do_scenario(self, *, dry_run: bool) -> Outcome:
        if dry_run:
            return Outcome(
                True,
                "would mark the scratch Worker's live version bad, follow the incident its errors open to its end, "
                "and put the scratch Worker back",
            )
        answer = hooks.get("detection_drill")()
        data, missing = answer["data"], answer.get("missing") or []
        if not answer["ok"]:
            return Outcome(False, answer["output"], data)
        if missing:  # the chain ran, but not every step of the runbook's could: not a full proof
            hint = "; ".join(f"{m['what']}: {m['hint']}" for m in missing)
            output = f"{answer['output']}; not proven (not configured): {hint}"
            return Outcome(False, output, data | {"missing": missing[0], "not_configured": missing}, skipped=True)
        return Outcome(True, answer["output"], data)
