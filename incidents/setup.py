"""What is set up and what is not, in plain words: the one report behind ``/setup/``,
``manage.py doctor`` and ``GET /api/v1/setup/``.

Each item is a channel, target, provider, backup tier, detection source or on-call level: configured
or missing, the variable to set, and what does not work meanwhile. ``p0_pages_nobody`` is the one
finding that makes ``doctor`` exit non-zero: a P0 would page no one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings

from backups.storage import REGISTRY as TIERS
from incidents.comms.channels import REGISTRY as CHANNELS
from incidents.comms.oncall import level_targets
from incidents.lifecycle.models import EscalationLevel, SeverityPolicy
from pitchey_incidents import targets
from recovery.providers import REGISTRY as PROVIDERS

CONFIGURED, MISSING = "configured", "missing"

CHANNEL_CONSEQUENCE = {
    "slack": "Nobody hears about incidents in Slack (#incidents, #alerts-critical, #alerts-warning), "
    "and the internal communication can only be marked sent by hand.",
    "pagerduty": "No page reaches anyone's phone through PagerDuty.",
    "statuspage": "Status updates appear only on the built-in /status/ page, not on Statuspage.",
    "email": "Customers get no incident email.",
    "webhook": "No other system hears about incident changes.",
}
TIER_REQUIRES = {"local": "BACKUP_DIR", "cloud": "R2_BUCKET", "archive": "R2_BUCKET or R2_ARCHIVE_BUCKET"}
TIER_CONSEQUENCE = {
    "local": "Backups cannot be written on this machine.",
    "cloud": "Backups stay on this machine only: losing it loses them.",
    "archive": "No long-term archive copies are kept.",
}
# Providers recovery plans act on; the always-available ones (flags, probes, backups) are not listed.
PROVIDER_CONSEQUENCE = {
    "postgres": "Database restores and checks cannot run.",
    "neon": "Neon endpoint restarts, scaling and point-in-time branches cannot run.",
    "cloudflare": "Worker redeploys, rollbacks, secrets and edge-cache purges cannot run.",
    "redis": "Cache checks and flushes cannot run.",
    "command": "The run_command action has nothing it may run.",
    "http": "Recovery steps cannot verify services over HTTP.",
    "notify": "Communication drills have no test channel.",
}
PROVIDER_REQUIRES = {
    "postgres": "TARGET_DATABASE_URL",
    "neon": "NEON_API_KEY and NEON_PROJECT_ID",
    "cloudflare": "CF_API_TOKEN",
    "redis": "TARGET_REDIS_URL",
    "command": "ALLOWED_COMMANDS",
    "http": "SERVICE_HEALTH_URLS",
    "notify": "DRILL_SLACK_WEBHOOK",
}


@dataclass
class Item:
    section: str
    key: str
    label: str
    status: str
    set: str = ""  # the variable(s) to set while missing
    detail: str = ""
    consequence: str = ""
    testable: bool = False  # a "Send test" button (channels that are configured)


def _channels() -> list[Item]:
    items = []
    for name in CHANNELS.names():
        impl = CHANNELS[name]
        ok = impl.enabled()
        items.append(
            Item(
                "Channels",
                name,
                impl.label or name,
                CONFIGURED if ok else MISSING,
                "" if ok else impl.requires,
                consequence="" if ok else CHANNEL_CONSEQUENCE.get(name, ""),
                testable=ok,
            )  # fmt: skip
        )
    return items


def _targets() -> list[Item]:
    pg, redis = targets.target_is_postgres(), bool(targets.target_redis_url())
    return [
        Item(
            "Targets",
            "database",
            "Protected PostgreSQL database",
            CONFIGURED if pg else MISSING,
            "" if pg else "TARGET_DATABASE_URL",
            consequence="" if pg else "Backups, restores and checks of the protected database cannot run.",
        ),  # fmt: skip
        Item(
            "Targets",
            "cache",
            "Protected Redis cache",
            CONFIGURED if redis else MISSING,
            "" if redis else "TARGET_REDIS_URL",
            consequence="" if redis else "flush_app_cache and the cache recovery plan cannot run.",
        ),  # fmt: skip
    ]


def _providers() -> list[Item]:
    items = []
    for name in PROVIDERS.names():
        if name not in PROVIDER_CONSEQUENCE:
            continue
        impl = PROVIDERS[name]
        ok, why = impl.available()
        items.append(
            Item(
                "Providers",
                name,
                impl.label or name,
                CONFIGURED if ok else MISSING,
                "" if ok else PROVIDER_REQUIRES.get(name, ""),
                detail="" if ok or why.startswith("set ") else why,
                consequence="" if ok else PROVIDER_CONSEQUENCE[name],
            )  # fmt: skip
        )
    return items


def _tiers() -> list[Item]:
    items = []
    for tier, cls in TIERS.classes().items():
        ok = cls.configured()
        items.append(
            Item(
                "Backup tiers",
                tier,
                f"{tier.capitalize()} tier",
                CONFIGURED if ok else MISSING,
                "" if ok else TIER_REQUIRES.get(tier, ""),
                consequence="" if ok else TIER_CONSEQUENCE.get(tier, ""),
            )  # fmt: skip
        )
    return items


def _detection() -> list[Item]:
    prom, health = bool(settings.PROMETHEUS_URL), bool(getattr(settings, "SERVICE_HEALTH_URLS", {}))
    ok = prom or health
    return [
        Item(
            "Detection",
            "error_rate",
            "Error-rate and latency detection",
            CONFIGURED if ok else MISSING,
            "" if ok else "PROMETHEUS_URL or SERVICE_HEALTH_URLS",
            detail=", ".join(n for n, on in (("Prometheus", prom), ("health URLs", health)) if on),
            consequence=""
            if ok
            else "Error-rate detection is off: set PROMETHEUS_URL or SERVICE_HEALTH_URLS. "
            "Every service shows as unknown and nothing is declared automatically.",
        )  # fmt: skip
    ]


def _oncall() -> list[Item]:
    items = []
    for level in EscalationLevel.objects.order_by("level"):
        names = level_targets(level)
        items.append(
            Item(
                "On-call levels",
                f"level-{level.level}",
                f"Level {level.level}: {level.name}",
                CONFIGURED if names else MISSING,
                "" if names else "a person or rotation for this level",
                detail=", ".join(names),
                consequence="" if names else f"Level {level.level} ({level.name}) pages no one.",
            )  # fmt: skip
        )
    return items


def p0_pages_nobody() -> bool:
    """Whether declaring a P0 now would reach no one: PagerDuty is not set up, and either Slack is not
    set up or no escalation level has anyone to name in Slack."""
    if CHANNELS["pagerduty"].enabled():
        return False
    if not CHANNELS["slack"].enabled():
        return True
    return not any(level_targets(level) for level in EscalationLevel.objects.all())


def setup_report() -> dict:
    items = [*_channels(), *_targets(), *_providers(), *_tiers(), *_detection(), *_oncall()]
    nobody = p0_pages_nobody()
    consequences = []
    if nobody:
        auto = SeverityPolicy.objects.filter(severity="P0", auto_page=True).exists()
        consequences.append(
            "A P0 will page nobody: set PAGERDUTY_ROUTING_KEY, or SLACK_WEBHOOK and someone on call at level 1"
            + ("." if auto else " (P0 is not set to page automatically either).")
        )
    consequences += [i.consequence for i in items if i.status == MISSING and i.consequence]
    sections: dict[str, list[dict]] = {}
    for item in items:
        sections.setdefault(item.section, []).append(asdict(item))
    return {
        "complete": not any(i.status == MISSING for i in items),
        "p0_pages_nobody": nobody,
        "missing": sum(1 for i in items if i.status == MISSING),
        "consequences": consequences,
        "sections": [{"name": name, "items": rows} for name, rows in sections.items()],
    }


def anything_missing() -> bool:
    """Cheap enough for the dashboard: whether the setup page has anything to say."""
    return not setup_report()["complete"]
