#!/usr/bin/env python
import gc
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")
    # Start-up builds about 100,000 objects that live until exit: no collection while it runs could free
    # any of them, and afterwards they are frozen out of the collector's sight (docs/backups.md, "Where
    # the time goes"). Settings that do not load are left for Django to report, as it does.
    gc.disable()
    try:
        import django
        from django.conf import settings

        try:
            loaded = bool(settings.INSTALLED_APPS)
        except Exception:
            loaded = False
        if loaded:
            django.setup()
    finally:
        gc.freeze()
        gc.enable()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
