"""The incident domain's metrics for ``/metrics`` (the detection app renders every app's ``collect()``)."""

from __future__ import annotations

from . import metrics_postmortem


def collect():
    # MTTx, response time met, action items, post-mortem deadlines, recovery objectives, backup success.
    yield from metrics_postmortem.collect()
