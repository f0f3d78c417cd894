from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "pitchey_incidents"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .zones import remember_time_zone

        # The viewer's time zone goes into the session at login, so pages never look it up.
        user_logged_in.connect(remember_time_zone, dispatch_uid="pitchey-remember-time-zone")
