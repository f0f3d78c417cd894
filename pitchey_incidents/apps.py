from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "pitchey_incidents"
    verbose_name = "Platform"
