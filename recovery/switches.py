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
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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


def _apply(flag: str, on: bool, dry_run: bool, states: dict) -> dict[str, dict]:
    """Run every back end of the switch; one failing does not stop the next."""
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

    1. Lock the switch's row (two clicks, two workers: one at a time).
    2. Run each back end, with what the row remembers (the database's previous setting).
    3. Save per back end whether it is on; the flag is on while any back end is.
    """
    if flag not in SWITCHES:
        return Outcome(False, f"unknown switch {flag!r}")
    context = runcontext.current()
    with transaction.atomic():
        RuntimeFlag.objects.get_or_create(name=flag)
        row = RuntimeFlag.objects.select_for_update().get(name=flag)
        results = _apply(flag, on, dry_run, row.backends or {})
        if not dry_run:
            _save(row, on, results, context)
    return _summary(flag, on, dry_run, results)


def _save(row: RuntimeFlag, on: bool, results: dict[str, dict], context: runcontext.RunContext) -> None:
    was_on = row.enabled
    row.backends = {name: {k: r[k] for k in ("on", "ok", "output", "previous")} for name, r in results.items()}
    row.enabled = any(r["on"] for r in results.values())
    row.changed_by = context.actor
    if row.enabled and not was_on:
        row.enabled_at, row.incident, row.overdue_alerted_at = timezone.now(), context.incident, None
    if not row.enabled:
        row.enabled_at, row.incident = None, ""
    row.save()


def switches_on() -> list[RuntimeFlag]:
    """The switches on now (for the banner, the status page and the reminders)."""
    return list(RuntimeFlag.objects.filter(name__in=SWITCHES, enabled=True))


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
