"""Alert sources and alert intake: every write for alerts happens here.

Intake keeps the request short: one transaction writes the alerts, their group and (for a new
group) the incident; timeline notes for resolved alerts, severity upgrades and the move to
monitoring run afterwards in ``tasks.alert_group_sync`` on the critical queue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import defaultdict
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from incidents.detection import tasks
from incidents.detection.intake import ParsedAlert
from incidents.detection.models import Alert, AlertGroup, AlertSource, AlertSourceKind, AlertStatus
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Status
from pitchey_incidents import events, jobs
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.timefmt import format_duration
from recovery.models import Service

SECRET_PREFIX = "pias_"
LAST_SEEN_RESOLUTION = timedelta(seconds=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


# --- sources --------------------------------------------------------------------------------------


def alertsource_create(
    *, name: str, kind: str, group_by: list[str] | None = None, auto_resolve_after_s: int | None = None, actor: str
) -> tuple[AlertSource, str]:
    """Create a source; returns it with its secret, which is shown this once and stored hashed."""
    if kind not in AlertSourceKind.values:
        raise DomainError(f"must be one of {', '.join(AlertSourceKind.values)}", field="kind")
    if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
        raise DomainError("must be a slug (letters, digits, - and _)", field="name")
    if AlertSource.objects.filter(name=name).exists():
        raise DomainError(f"an alert source named {name!r} exists", field="name")
    if auto_resolve_after_s is not None and auto_resolve_after_s < 0:
        raise DomainError("must be zero or more seconds", field="auto_resolve_after_s")
    secret, digest = _new_secret()
    with transaction.atomic():
        source = AlertSource.objects.create(
            name=name, kind=kind, secret_hash=digest, group_by=group_by or [], auto_resolve_after_s=auto_resolve_after_s
        )
        events.audit(actor=actor, action="alertsource.create", target=name, data={"kind": kind})
    return source, secret


def alertsource_rotate(*, name: str, actor: str) -> tuple[AlertSource, str]:
    secret, digest = _new_secret()
    with transaction.atomic():
        source = _source(name, lock=True)
        source.secret_hash = digest
        source.save(update_fields=["secret_hash"])
        events.audit(actor=actor, action="alertsource.rotate", target=name)
    return source, secret


def alertsource_delete(*, name: str, actor: str) -> None:
    with transaction.atomic():
        _source(name, lock=True).delete()
        events.audit(actor=actor, action="alertsource.delete", target=name)


def _source(name: str, *, lock: bool = False) -> AlertSource:
    qs = AlertSource.objects.select_for_update() if lock else AlertSource.objects
    try:
        return qs.get(name=name)
    except AlertSource.DoesNotExist:
        raise DomainError(f"no alert source {name!r}", field="name") from None


def alertsource_authenticate(*, kind: str, authorization: str) -> AlertSource | None:
    """The enabled source of this kind whose secret is the bearer credential, else None."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    digest = hash_secret(secret)
    source = AlertSource.objects.filter(secret_hash=digest, enabled=True).first()
    if source is None or not hmac.compare_digest(source.secret_hash, digest) or source.kind != kind:
        return None
    return source


# --- intake ---------------------------------------------------------------------------------------


def group_key_for(source: AlertSource, alert: ParsedAlert) -> str:
    """The source's label rule when it has one, else the sender's group key, else the alert itself."""
    if source.group_by:
        return "|".join(f"{name}={alert.labels.get(name, '')}" for name in source.group_by)[:255]
    return alert.group_key or alert.identity


def _severity(source: AlertSource, alert: ParsedAlert) -> str:
    return alert.severity or source.severity_for(alert.labels)


def alerts_ingest(*, source: AlertSource, alerts: list[ParsedAlert]) -> list[str]:
    """Record a delivery; returns the public ids of the incidents it touched.

    1. Group the alerts by group key (sorted, so concurrent deliveries lock groups in one order).
    2. Per group: find the open group (locked) or create it with its incident; a unique index on
       open groups turns a concurrent creation into an IntegrityError, after which we join theirs.
    3. Upsert each alert by identity: repeats update counts and last-seen.
    4. After commit, a task writes resolved alerts to the timeline and moves the incident on.
    """
    by_key: dict[str, dict[str, ParsedAlert]] = defaultdict(dict)
    for alert in alerts:
        by_key[group_key_for(source, alert)][alert.identity[:255]] = alert  # last delivery of an identity wins
    now = timezone.now()
    touched: list[str] = []
    with transaction.atomic():
        for key in sorted(by_key):
            group, follow_up = _ingest_group(source, key, list(by_key[key].values()), now)
            if group is None:
                continue
            if group.incident_id:
                touched.append(group.incident.public_id)
            if follow_up:
                jobs.dispatch(tasks.alert_group_sync, group.id)
    return touched


def _ingest_group(source: AlertSource, key: str, items: list[ParsedAlert], now) -> tuple[AlertGroup | None, bool]:
    group = _open_group(source, key)
    created = False
    if group is None:
        if not any(a.status == AlertStatus.FIRING for a in items):
            return None, False  # resolutions for a group we no longer track: nothing to open
        group, created = _create_group(source, key, items, now)
    rows = _upsert_alerts(source, group, items, now)
    resolved = any(status == AlertStatus.RESOLVED and noted is None for _, status, _, noted in rows)
    new_severities = [severity for _, _, received, severity in _with_severity(rows, items, source) if received == 1]
    # Only a delivery made entirely of resolutions can leave the group with nothing firing.
    firing = any(i.status == AlertStatus.FIRING for i in items) or (
        Alert.objects.filter(group=group, status=AlertStatus.FIRING).exists()
    )
    all_resolved_at = None if firing else (group.all_resolved_at or now)
    # last_alert_at is kept to the second: in a storm most deliveries then skip this UPDATE.
    if all_resolved_at != group.all_resolved_at or now - group.last_alert_at > LAST_SEEN_RESOLUTION:
        group.last_alert_at, group.all_resolved_at = now, all_resolved_at
        group.save(update_fields=["last_alert_at", "all_resolved_at"])
    # Follow-up only when there is news for the timeline: a resolution, or a worse alert joining.
    worse = not created and group.incident is not None and any(sev < group.incident.severity for sev in new_severities)
    return group, resolved or worse


UPSERT_SQL = """
INSERT INTO {t} (group_id, identity, status, severity, summary, labels, annotations, starts_at, ends_at,
                 first_seen, last_seen, received, resolution_noted_at)
VALUES {values}
ON CONFLICT (group_id, identity) DO UPDATE SET
    status = excluded.status, severity = excluded.severity, summary = excluded.summary,
    labels = excluded.labels, annotations = excluded.annotations,
    starts_at = COALESCE(excluded.starts_at, {t}.starts_at), ends_at = excluded.ends_at,
    last_seen = excluded.last_seen, received = {t}.received + 1,
    resolution_noted_at = CASE WHEN {t}.status = 'resolved' AND excluded.status = 'firing' THEN NULL
                               ELSE {t}.resolution_noted_at END
RETURNING identity, status, received, resolution_noted_at
"""


def _upsert_alerts(source: AlertSource, group: AlertGroup, items: list[ParsedAlert], now) -> list[tuple]:
    """Insert new alerts and update repeats in one statement (PostgreSQL and SQLite ≥ 3.35 both
    speak ``ON CONFLICT … DO UPDATE … RETURNING``): one round trip however many alerts a delivery
    carries. Returns ``(identity, status, received, resolution_noted_at)`` per alert; a
    ``received`` of 1 is a new alert. A repeat that fires again clears its resolution note."""
    ops = connection.ops
    params: list = []
    for item in items:
        params += [
            group.id,
            item.identity,
            item.status,
            _severity(source, item),
            item.summary,
            json.dumps(item.labels),
            json.dumps(item.annotations),
            ops.adapt_datetimefield_value(item.starts_at),
            ops.adapt_datetimefield_value(item.ends_at),
            ops.adapt_datetimefield_value(now),
            ops.adapt_datetimefield_value(now),
            1,
            None,
        ]
    row = "(" + ", ".join(["%s"] * 13) + ")"
    sql = UPSERT_SQL.format(t=connection.ops.quote_name(Alert._meta.db_table), values=", ".join([row] * len(items)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _with_severity(rows: list[tuple], items: list[ParsedAlert], source: AlertSource):
    severity = {i.identity: _severity(source, i) for i in items}
    for identity, status, received, _ in rows:
        yield identity, status, received, severity[identity]


OPEN_GROUP_SQL = """
SELECT g.*, i.status AS incident_status, i.severity AS incident_severity
FROM {groups} g LEFT JOIN {incidents} i ON i.id = g.incident_id
WHERE g.source_id = %s AND g.key = %s AND g.open{lock}
"""


def _open_group(source: AlertSource, key: str) -> AlertGroup | None:
    """The source's open group of this key, locked, with its incident's status and severity (the
    one statement every delivery runs: written out, it skips the ORM's compilation per request)."""
    sql = OPEN_GROUP_SQL.format(
        groups=connection.ops.quote_name(AlertGroup._meta.db_table),
        incidents=connection.ops.quote_name(Incident._meta.db_table),
        lock=" FOR UPDATE OF g" if connection.features.has_select_for_update_of else "",
    )
    group = next(iter(AlertGroup.objects.raw(sql, [source.id, key])), None)
    if group is not None and group.incident_id is not None:
        known = {"id": group.incident_id, "status": group.incident_status, "severity": group.incident_severity}
        names = [f.attname for f in Incident._meta.concrete_fields if f.attname in known]  # from_db's order
        incident = Incident.from_db(group._state.db, names, [known[n] for n in names])
        AlertGroup.incident.field.set_cached_value(group, incident)  # the rest of it loads if asked for
    if group is not None and (group.incident is None or not group.incident.is_open):
        group.open = False  # its incident was resolved: the next firing alert opens a new one
        group.save(update_fields=["open"])
        return None
    return group


def _create_group(source: AlertSource, key: str, items: list[ParsedAlert], now) -> tuple[AlertGroup, bool]:
    try:
        with transaction.atomic():
            group = AlertGroup.objects.create(source=source, key=key, last_alert_at=now, created_at=now)
    except IntegrityError:
        # Another delivery created this group a moment ago and has committed: join it.
        group = (
            AlertGroup.objects.select_for_update(of=("self",))
            .select_related("incident")
            .get(source=source, key=key, open=True)
        )
        return group, False
    firing = [a for a in items if a.status == AlertStatus.FIRING]
    severity = min((_severity(source, a) for a in firing), default=source.default_severity)
    slugs = {a.labels.get("service", "") for a in firing}
    known = sorted(Service.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    first = firing[0]
    title = first.labels.get("alertname") or first.summary
    if len(firing) > 1:
        title = f"{title} ({len(firing)} alerts)"
    description = "\n".join(f"- {a.summary}" for a in firing[:50])
    starts = [a.starts_at for a in firing if a.starts_at]
    group.incident = services.incident_declare(
        severity=severity,
        title=title[:200],
        description=description,
        services=known,
        actor=f"{source.kind}:{source.name}",
        source=source.kind,
        detected_at=min(starts) if starts else now,
    )
    group.save(update_fields=["incident"])
    return group, True


# --- follow-up (tasks) ----------------------------------------------------------------------------


def alert_group_sync(*, group_id: int) -> None:
    """Write newly resolved alerts to the timeline, raise the severity for worse alerts, and move
    the incident to monitoring once every alert has resolved. Idempotent: notes are claimed."""
    group = AlertGroup.objects.select_related("source", "incident").filter(id=group_id).first()
    if group is None or group.incident is None or not group.incident.is_open:
        return
    incident, actor = group.incident, f"{group.source.kind}:{group.source.name}"
    for alert in Alert.objects.filter(group=group, status=AlertStatus.RESOLVED, resolution_noted_at__isnull=True):
        claimed = Alert.objects.filter(id=alert.id, resolution_noted_at__isnull=True).update(
            resolution_noted_at=timezone.now()
        )
        if claimed:
            services.incident_note(
                incident=incident,
                kind="alert_resolved",
                actor=actor,
                message=f"Alert resolved: {alert.summary}",
                data={"alert": alert.identity, "labels": alert.labels},
            )
    worst = (
        Alert.objects.filter(group=group, status=AlertStatus.FIRING)
        .order_by("severity")
        .values_list("severity", flat=True)
        .first()
    )
    incident.refresh_from_db()
    if worst and worst < incident.severity and incident.is_open:
        services.incident_change_severity(
            incident=incident, severity=worst, reason=f"a {worst} alert joined the group", actor=actor
        )
    group.refresh_from_db()
    if group.all_resolved_at and incident.status in (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATING):
        try:
            services.incident_monitor(incident=incident, actor=actor, message="All alerts resolved; monitoring")
        except InvalidTransition:
            pass  # someone moved it on meanwhile


def alerts_auto_resolve(*, now=None) -> list[str]:
    """Resolve incidents whose alerts have all been quiet for their source's quiet period."""
    now = now or timezone.now()
    resolved = []
    candidates = AlertGroup.objects.select_related("source", "incident").filter(
        open=True, all_resolved_at__isnull=False, source__auto_resolve_after_s__isnull=False
    )
    for group in candidates:
        quiet = timedelta(seconds=group.source.auto_resolve_after_s)
        if group.all_resolved_at > now - quiet or group.incident is None:
            continue
        with transaction.atomic():
            claimed = AlertGroup.objects.filter(id=group.id, open=True, all_resolved_at=group.all_resolved_at).update(
                open=False
            )
            if not claimed or not Incident.objects.open().filter(id=group.incident_id).exists():
                continue
            services.incident_resolve(
                incident=group.incident_id,
                resolution=f"All alerts resolved and quiet for {format_duration(quiet)}",
                actor=f"{group.source.kind}:{group.source.name}",
            )
        resolved.append(group.incident.public_id)
    return resolved
