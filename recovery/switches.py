"""Read-only and maintenance mode, switched for real on every back end that is configured.

A switch is one row (``RuntimeFlag``): the flag the protected app polls at ``/api/v1/flags/``, and,
per back end, whether it is on there and what was there before, so turning it off after a restart
of everything still knows what to put back. The back ends:

- ``flags``: the row itself (always);
- ``cloudflare``: the Worker secret of the same name (``READ_ONLY_MODE`` / ``MAINTENANCE_MODE``);
- ``postgres`` (read-only only): the protected database's ``default_transaction_read_only``, with
  its sessions ended so that they reconnect under it. Our own database is never switched.

A back end that fails does not stop the others; the run reports each, and it is ``partial``, not
done, when any configured back end failed.

Changing a switch claims its row (a conditional update into "being switched"), not a lock: the calls
out run with no transaction open, each back end's answer is written as it comes, and a claim whose
process was lost times out (``SWITCH_CLAIM_TIMEOUT_S``) and is reported by ``switch_claims_sweep``.
Call ``switch_set`` outside a transaction (controls and mitigations do), or the claim waits for it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pitchey_incidents import events
from pitchey_incidents.outcome import Outcome

from . import runcontext, signals
from .models import RuntimeFlag
from .providers import get_provider

SWITCHES: dict[str, tuple[str, ...]] = {
    "READ_ONLY_MODE": ("flags", "cloudflare", "postgres"),
    "MAINTENANCE_MODE": ("flags", "cloudflare"),
}


def _cloudflare(flag: str, on: bool, dry_run: bool, state: dict) -> Outcome:
    if not (settings.CF_API_TOKEN and settings.CF_ACCOUNT_ID and settings.CF_WORKER_NAME):
        return Outcome(False, "not configured: set CF_API_TOKEN, CF_ACCOUNT_ID and CF_WORKER_NAME", skipped=True)
    value = "true" if on else "false"
    return get_provider("cloudflare").run("set_secret", {"secret": flag, "value": value}, dry_run=dry_run)


def _postgres(flag: str, on: bool, dry_run: bool, state: dict) -> Outcome:
    previous = "" if on else (state.get("previous") or "")
    return get_provider("postgres").run("read_only", {"on": on, "previous": previous}, dry_run=dry_run)


def _flags(flag: str, on: bool, dry_run: bool, state: dict) -> Outcome:
    runcontext.record("SET", f"flags:{flag}", {"enabled": on}, sent=not dry_run)
    verb = "would turn" if dry_run else "turned"
    return Outcome(True, f"{verb} {flag} {'on' if on else 'off'} at /api/v1/flags/")


BACKENDS = {"flags": _flags, "cloudflare": _cloudflare, "postgres": _postgres}


def _apply(flag: str, on: bool, dry_run: bool, states: dict, record=None) -> dict[str, dict]:
    """Run every back end of the switch; one failing does not stop the next. ``record(backend,
    result)`` keeps each result on the row as soon as it is known (False: the claim was lost)."""
    results: dict[str, dict] = {}
    for backend in SWITCHES[flag]:
        state = states.get(backend) or {}
        try:
            outcome = BACKENDS[backend](flag, on, dry_run, state)
        except Exception as exc:  # a back end's failure is reported beside the others, never hidden
            outcome = Outcome(False, f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300])
        now_on = on if outcome.ok and not outcome.skipped else bool(state.get("on"))
        results[backend] = {
            "ok": outcome.ok or outcome.skipped,
            "skipped": outcome.skipped,
            "on": now_on,
            "output": outcome.output,
            "previous": _previous(state, outcome) if on else "",
        }
        if record is not None and not record(backend, results[backend]):
            results[backend]["ok"] = False
            results[backend]["output"] += " (not recorded on the switch: another attempt took it over)"
    return results


def _previous(state: dict, outcome: Outcome) -> str:
    """What to put back when the switch goes off: kept from the first time it went on."""
    if state.get("on"):
        return state.get("previous") or ""
    return str((outcome.data or {}).get("previous") or "")


def _summary(flag: str, on: bool, dry_run: bool, results: dict[str, dict]) -> Outcome:
    failed = [name for name, r in results.items() if not r["ok"]]
    changed = [name for name, r in results.items() if r["ok"] and not r["skipped"]]
    parts = [f"{name}: {'FAILED ' if not r['ok'] else ''}{r['output']}" for name, r in results.items()]
    state = "on" if on else "off"
    if dry_run:
        head = f"would turn {flag} {state}"
    elif failed:
        head = f"{flag} is only partly {state} (failed: {', '.join(failed)}; changed: {', '.join(changed) or 'none'})"
    else:
        head = f"{flag} is {state} (changed: {', '.join(changed)})"
    data = {"backends": results, "changed": changed, "failed": failed, "partial": bool(failed and changed)}
    return Outcome(not failed, f"{head} — " + "; ".join(parts), data)


def switch_set(*, flag: str, on: bool, dry_run: bool = False) -> Outcome:
    """Turn ``flag`` on or off on each configured back end.

    1. Claim the switch's row with a conditional update: an attempt while another is under way is
       told so and sends nothing (a double click runs once); a claim older than
       ``SWITCH_CLAIM_TIMEOUT_S`` was left by a lost process and is taken over, and the answer says so.
    2. Run each back end with what the row remembers (the database's previous setting), with no
       transaction open: a slow vendor holds no lock, and the banner and the state read on.
    3. Record each back end's result on the row as soon as it answered (the flag is on while any
       back end is), so a crash half-way leaves the row saying what was done; then release the claim.
    """
    if flag not in SWITCHES:
        return Outcome(False, f"unknown switch {flag!r}")
    if dry_run:
        row = RuntimeFlag.objects.filter(name=flag).first()
        return _summary(flag, on, True, _apply(flag, on, True, (row.backends if row else None) or {}))
    context = runcontext.current()
    claim = switch_claim(flag=flag, on=on, actor=context.actor)
    if claim.busy:
        return _busy(flag, claim)
    try:
        results = _apply(flag, on, False, claim.states, lambda name, r: _record(flag, claim.token, name, r, context))
    finally:
        RuntimeFlag.objects.filter(name=flag, switch_claim=claim.token).update(
            switch_claim="", switching_to="", switching_by="", switching_since=None
        )
    summary = _summary(flag, on, False, results)
    return replace(summary, output=f"{claim.took_over}; {summary.output}") if claim.took_over else summary


@dataclass
class Claim:
    token: str = ""
    states: dict = field(default_factory=dict)
    busy: RuntimeFlag | None = None  # the row as another attempt holds it
    took_over: str = ""  # what the stale claim taken over was


def switch_claim(*, flag: str, on: bool, actor: str) -> Claim:
    """Claim the switch for one attempt: a conditional update of ``switch_claim`` from empty (or
    stale) to a fresh token; proceed only if one row changed."""
    RuntimeFlag.objects.get_or_create(name=flag)
    now = timezone.now()
    stale = now - timezone.timedelta(seconds=settings.SWITCH_CLAIM_TIMEOUT_S)
    before = RuntimeFlag.objects.get(name=flag)
    token = uuid.uuid4().hex
    free = Q(switch_claim="") | Q(switching_since__lt=stale)
    claimed = RuntimeFlag.objects.filter(free, name=flag).update(
        switch_claim=token, switching_to="on" if on else "off", switching_by=actor, switching_since=now, reason=""
    )
    if not claimed:
        return Claim(busy=RuntimeFlag.objects.get(name=flag))
    row = RuntimeFlag.objects.get(name=flag)
    took_over = ""
    if before.switch_claim and before.switch_claim != token:
        took_over = (
            f"took over: turning it {before.switching_to} (by {before.switching_by or 'unknown'} since "
            f"{before.switching_since:%Y-%m-%d %H:%M:%S} UTC) never finished, its process was lost"
        )
    return Claim(token=token, states=row.backends or {}, took_over=took_over)


def _busy(flag: str, claim: Claim) -> Outcome:
    row = claim.busy
    since = f"{row.switching_since:%Y-%m-%d %H:%M:%S} UTC" if row.switching_since else "just now"
    return Outcome(
        False,
        f"{flag} is being turned {row.switching_to} by {row.switching_by or 'someone'} since {since}: "
        "nothing was sent; wait for it to finish (see /controls/)",
        {"in_progress": {"to": row.switching_to, "by": row.switching_by, "since": since}},
    )


def _record(flag: str, token: str, backend: str, result: dict, context: runcontext.RunContext) -> bool:
    """One back end's result on the row, if this attempt still holds the claim (a short lock, no call out)."""
    with transaction.atomic():
        row = RuntimeFlag.objects.select_for_update().filter(name=flag, switch_claim=token).first()
        if row is None:
            return False
        was_on = row.enabled
        row.backends = {**(row.backends or {}), backend: {k: result[k] for k in ("on", "ok", "output", "previous")}}
        row.enabled = any(state.get("on") for state in row.backends.values())
        row.changed_by = context.actor
        if row.enabled and not was_on:
            row.enabled_at, row.incident, row.overdue_alerted_at = timezone.now(), context.incident, None
        if not row.enabled:
            row.enabled_at, row.incident = None, ""
        row.save()
    return True


def switches_on() -> list[RuntimeFlag]:
    """The switches on now (for the banner, the status page and the reminders)."""
    return list(RuntimeFlag.objects.filter(name__in=SWITCHES, enabled=True))


def switches_shown() -> list[RuntimeFlag]:
    """The switches on now or being changed now (the banner), in one query."""
    return list(RuntimeFlag.objects.filter(Q(enabled=True) | ~Q(switch_claim=""), name__in=SWITCHES))


def banner_state(rows: list[RuntimeFlag]) -> str:
    """A short digest of what the banner shows: an open page that has seen it is told "no change"."""
    seen = [
        (r.name, r.enabled, str(r.enabled_at), r.backends_on, r.changed_by, r.incident, r.switching_to, r.switching_by)
        for r in rows
    ]
    return hashlib.sha256(repr(seen).encode()).hexdigest()[:16]


def switches_overdue() -> list[str]:
    """Switches on for longer than ``SWITCH_OVERDUE_AFTER_S`` that nobody turned off: each is claimed
    once (a conditional update) and announced with ``signals.switch_overdue`` (a P3 incident)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.SWITCH_OVERDUE_AFTER_S)
    due = RuntimeFlag.objects.filter(
        name__in=SWITCHES, enabled=True, enabled_at__lt=cutoff, overdue_alerted_at__isnull=True
    )
    announced = []
    for row in due:
        claimed = RuntimeFlag.objects.filter(id=row.id, enabled=True, overdue_alerted_at__isnull=True).update(
            overdue_alerted_at=timezone.now()
        )
        if claimed:
            flag = {
                "name": row.name,
                "label": row.label,
                "backends": row.backends_on,
                "enabled_at": row.enabled_at,
                "changed_by": row.changed_by,
                "incident": row.incident,
            }
            transaction.on_commit(lambda flag=flag: signals.switch_overdue.send(sender=None, flag=flag))
            announced.append(row.name)
    return announced


def switch_claims_sweep() -> list[str]:
    """Claims older than ``SWITCH_CLAIM_TIMEOUT_S``: the process changing the switch was lost half-way.
    Each is released (a conditional update on its token) and reported: a line on the row (``reason``)
    and a ``control.stale`` event. The row already says which back ends answered before it was lost."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.SWITCH_CLAIM_TIMEOUT_S)
    reported = []
    for row in RuntimeFlag.objects.filter(name__in=SWITCHES, switching_since__lt=cutoff).exclude(switch_claim=""):
        note = (
            f"turning {row.name} {row.switching_to} (by {row.switching_by or 'unknown'} since "
            f"{row.switching_since:%Y-%m-%d %H:%M:%S} UTC) never finished: its process was lost. On now: "
            f"{', '.join(row.backends_on) or 'nothing'}; check each back end, then run it again"
        )
        released = RuntimeFlag.objects.filter(id=row.id, switch_claim=row.switch_claim).update(
            switch_claim="", switching_to="", switching_by="", switching_since=None, reason=note[:300]
        )
        if released:
            events.emit("control.stale", f"switch:{row.name}", {"flag": row.name, "note": note})
            reported.append(row.name)
    return reported
