from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "pitchey_incidents"
    verbose_name = "Platform"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI auth extensions)
