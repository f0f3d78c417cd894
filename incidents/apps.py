from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's documented place for it):
        # - the sub-packages' subscribers to lifecycle events, and the incident facts comms keeps;
        # - every sub-package's Celery tasks (registered under their old names, incidents.tasks.*);
        # - the hooks recovery calls back through.
        from django.core import checks

        from incidents.comms import checks as comms_checks
        from incidents.comms import drill_messages, selectors, subscribers  # noqa: F401
        from incidents.comms import tasks as comms_tasks  # noqa: F401
        from incidents.detection import drill as detection_drill
        from incidents.detection import tasks as detection_tasks  # noqa: F401
        from incidents.lifecycle import receivers
        from incidents.lifecycle import tasks as lifecycle_tasks  # noqa: F401
        from incidents.postmortems import subscribers as postmortem_subscribers  # noqa: F401
        from incidents.postmortems import tasks as postmortem_tasks  # noqa: F401

        receivers.connect()
        drill_messages.connect()
        detection_drill.connect()
        checks.register(comms_checks.escalation_levels_reach_someone)
