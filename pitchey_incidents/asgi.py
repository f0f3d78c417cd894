import os

# The web server runs each request in a thread of its own, so persistent connections are never reused:
# a bounded pool per process is the default here (DB_POOL=0 turns it off).
os.environ.setdefault("DB_POOL", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")

from django.core.asgi import get_asgi_application  # noqa: E402  (after the defaults above)

from pitchey_incidents.request_thread import with_request_thread  # noqa: E402
from pitchey_incidents.stream_gate import limits_from_settings, with_stream_gate  # noqa: E402

application = with_stream_gate(with_request_thread(get_asgi_application()), limits_from_settings)
