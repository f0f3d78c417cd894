"""The one routing table: three queues so that a two-hour backup never delays a page.

- ``critical``: paging, notifications, escalation, alert intake, mitigations
- ``default``: everything else
- ``long``: backups, restores, recovery runs, drills
"""

from __future__ import annotations

from pathlib import Path

QUEUES = ("critical", "default", "long")

# Task-name patterns → queue. Anything not listed goes to ``default``.
TASK_ROUTES = {
    "incidents.tasks.notification_*": "critical",
    "incidents.tasks.escalation_*": "critical",
    "incidents.tasks.alert_*": "critical",
    "incidents.tasks.mitigation_*": "critical",
    "backups.tasks.*": "long",
    "recovery.tasks.recovery_*": "long",
    "recovery.tasks.drill_*": "long",
}


def broker_transport_options(url: str, broker_dir: Path, prefix: str) -> dict:
    if url.startswith("filesystem://"):
        for sub in ("processed", "control"):
            (broker_dir / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(broker_dir),
            "data_folder_out": str(broker_dir),
            "processed_folder": str(broker_dir / "processed"),
            "control_folder": str(broker_dir / "control"),
            "store_processed": False,
            "polling_interval": 0.1,  # the default 1 s poll would delay every page by up to a second
        }
    # Redis redelivers a message nobody acknowledged after the visibility timeout: longer than the
    # longest task (a backup) and the longest countdown (escalation, 30 min), so neither is run twice
    # while still running. A message a broker outage left unacknowledged comes back after it; the rows'
    # sweepers redispatch the work long before that.
    options: dict = {"visibility_timeout": 6 * 3600}
    if prefix and url.startswith(("redis://", "rediss://")):
        options["global_keyprefix"] = prefix
    return options
