from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self):
        # Imported here, once the models are loaded (Django's documented place for it): the
        # sub-packages' Celery tasks, registered under their old names, and recovery's hooks.
        from incidents.lifecycle import receivers, tasks  # noqa: F401

        receivers.connect()
