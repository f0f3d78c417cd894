"""The runbook's tables (``disaster-recovery-guide.md``), as the catalog's defaults.

Seeded by a data migration with ``get_or_create``: existing rows, edited in the admin, are kept.
"""

from __future__ import annotations

MIN = 60
HOUR = 3600
DAY = 86400

# severity, name, description, examples, response time, auto-page, Slack channel
SEVERITIES = [
    (
        "P0",
        "Critical",
        "Complete outage",
        "Database failure, complete platform outage, security breach",
        15 * MIN,
        True,
        "#alerts-critical",
    ),
    (
        "P1",
        "Major",
        "Significant impact",
        "Auth system down, payment failures, API errors >50%",
        30 * MIN,
        True,
        "#alerts-critical",
    ),
    (
        "P2",
        "Medium",
        "Limited impact",
        "Slow performance, single feature broken, cache issues",
        2 * HOUR,
        False,
        "#alerts-warning",
    ),
    (
        "P3",
        "Low",
        "Minimal impact",
        "UI glitches, documentation issues, non-critical warnings",
        24 * HOUR,
        False,
        "#alerts-warning",
    ),
]

# The communication matrix: (requirement, seconds after declaration) per audience.
REQ, OPT, NO = "required", "optional", "none"
COMMUNICATIONS = {
    "P0": {
        "internal": (REQ, 0),
        "external": (REQ, 15 * MIN),
        "status_page": (REQ, 0),
        "customer_email": (REQ, 30 * MIN),
    },
    "P1": {
        "internal": (REQ, 0),
        "external": (REQ, 30 * MIN),
        "status_page": (REQ, 15 * MIN),
        "customer_email": (REQ, HOUR),
    },
    "P2": {
        "internal": (REQ, 15 * MIN),
        "external": (REQ, 2 * HOUR),
        "status_page": (REQ, 30 * MIN),
        "customer_email": (OPT, None),
    },
    "P3": {"internal": (REQ, HOUR), "external": (REQ, DAY), "status_page": (OPT, None), "customer_email": (NO, None)},
}

# slug, name, priority, RTO target, RTO maximum, recovery stage (1 data integrity … 5 performance)
SERVICES = [
    ("database", "Database", "P0", 15 * MIN, 30 * MIN, 1),
    ("auth", "Authentication", "P0", 10 * MIN, 20 * MIN, 2),
    ("api", "API Gateway", "P0", 5 * MIN, 15 * MIN, 3),
    ("websocket", "WebSocket Services", "P1", 15 * MIN, 30 * MIN, 4),
    ("media", "Media Storage", "P2", 30 * MIN, 60 * MIN, 4),
    ("cache", "Cache Layer", "P2", 20 * MIN, 45 * MIN, 5),
]

ESCALATION = [
    (1, "Primary on-call", 0),
    (2, "Secondary on-call", 5 * MIN),
    (3, "Team lead", 15 * MIN),
    (4, "CTO", 30 * MIN),
]

EMERGENCY_CONTACTS = [
    ("Primary On-Call", "PagerDuty", "24/7"),
    ("Database Admin", "DBA Team", "Business hours"),
    ("Security Team", "security@pitchey.com", "24/7"),
    ("Cloudflare Support", "Enterprise portal", "24/7"),
    ("Neon Support", "support@neon.tech", "24/7"),
]


def seed(apps) -> None:
    SeverityPolicy = apps.get_model("incidents", "SeverityPolicy")
    CommunicationRule = apps.get_model("incidents", "CommunicationRule")
    # ``apps`` is a migration's: the catalog was the incidents app's until incidents 0007 (now recovery's).
    Service = apps.get_model("incidents", "Service")
    EscalationLevel = apps.get_model("incidents", "EscalationLevel")
    EmergencyContact = apps.get_model("incidents", "EmergencyContact")

    for sev, name, desc, examples, response_s, page, channel in SEVERITIES:
        policy, _ = SeverityPolicy.objects.get_or_create(
            severity=sev,
            defaults={
                "name": name,
                "description": desc,
                "examples": examples,
                "response_time_s": response_s,
                "auto_page": page,
                "slack_channel": channel,
            },
        )
        for audience, (requirement, due_s) in COMMUNICATIONS[sev].items():
            CommunicationRule.objects.get_or_create(
                policy=policy, audience=audience, defaults={"requirement": requirement, "due_s": due_s}
            )
    for slug, name, priority, target, maximum, order in SERVICES:
        Service.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "priority": priority,
                "rto_target_s": target,
                "rto_max_s": maximum,
                "recovery_order": order,
            },
        )
    for level, name, delay in ESCALATION:
        EscalationLevel.objects.get_or_create(level=level, defaults={"name": name, "delay_s": delay})
    for order, (role, contact, availability) in enumerate(EMERGENCY_CONTACTS):
        EmergencyContact.objects.get_or_create(
            role=role, defaults={"contact": contact, "availability": availability, "order": order}
        )
