import os

from django.core.asgi import get_asgi_application

from pitchey_incidents.request_thread import with_request_thread

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")
application = with_request_thread(get_asgi_application())
