"""Django loads an app's models from ``<app>.models``; the incident domain keeps its models in its
sub-packages (one app label, ``incidents``, so table names are unchanged). Import from there."""

from incidents.comms import models as comms  # noqa: F401
from incidents.detection import models as detection  # noqa: F401
from incidents.lifecycle import models as lifecycle  # noqa: F401
from incidents.postmortems import models as postmortems  # noqa: F401
