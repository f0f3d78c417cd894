"""Every plug-in family is one Registry: filled by one decorator, loaded lazily in the declared order,
one instance per name (built again after a settings change), and unknown names refused by name."""

from __future__ import annotations

import importlib
import threading
import time

import pytest
from django.test import override_settings

from pitchey_incidents.errors import DomainError
from pitchey_incidents.registry import Registry, UnknownName


# The test family is imported inside the tests, not here: when its modules are imported against the
# first lookup is what these tests are about.
def test_modules_load_on_first_lookup_in_the_declared_order():
    from pitchey_incidents.tests.plugins import second  # registers before the family is loaded
    from pitchey_incidents.tests.plugins.base import REGISTRY

    assert REGISTRY.names() == ["anvil", "bolt", "crate"]
    assert list(REGISTRY) == ["anvil", "bolt", "crate"] and len(REGISTRY) == 3
    assert type(REGISTRY["crate"]) is second.Crate
    assert "bolt" in REGISTRY and "drill" not in REGISTRY and ["bolt"] not in REGISTRY
    assert REGISTRY.get("drill") is None and REGISTRY.get("bolt") is REGISTRY["bolt"]
    assert [cls.__name__ for cls in REGISTRY.classes().values()] == ["Anvil", "Bolt", "Crate"]


def test_an_unknown_name_is_a_domain_error_listing_the_known_ones():
    from pitchey_incidents.tests.plugins.base import REGISTRY

    with pytest.raises(UnknownName) as caught:
        REGISTRY["drill"]
    assert str(caught.value) == "unknown gadget 'drill'; must be one of anvil, bolt, crate"
    assert isinstance(caught.value, DomainError) and isinstance(caught.value, KeyError)
    assert caught.value.field == "gadget"
    with pytest.raises(UnknownName):
        REGISTRY[None]  # a name that is not text (say, a list from JSON) is unknown too, not a TypeError


def test_one_instance_per_name_until_a_setting_changes():
    from pitchey_incidents.tests.plugins.base import REGISTRY

    anvil = REGISTRY["anvil"]
    assert REGISTRY["anvil"] is anvil
    with override_settings(PROMETHEUS_URL="http://127.0.0.1:1"):
        inside = REGISTRY["anvil"]
        assert inside is not anvil and REGISTRY["anvil"] is inside
    assert REGISTRY["anvil"] is not inside


def test_concurrent_first_lookups_build_one_instance():
    family = Registry("widget", package=__package__, modules=())
    built = []

    @family.register
    class Slow:
        name = "slow"

        def __init__(self) -> None:
            built.append(self)
            time.sleep(0.02)  # widens the window in which a second thread could build another

    start = threading.Barrier(8)
    seen = []

    def lookup() -> None:
        start.wait(timeout=10)
        seen.append(family["slow"])

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(built) == 1 and len(seen) == 8 and all(s is built[0] for s in seen)


def test_a_name_registered_twice_is_refused():
    family = Registry("widget", package=__package__, modules=())

    @family.register
    class One:
        name = "same"

    family.register(One)  # the same class again (a module imported twice) is harmless
    with pytest.raises(ValueError, match="'same' is registered twice"):

        @family.register
        class Two:
            name = "same"


@pytest.mark.parametrize(
    ("module", "names", "message"),
    [
        (
            "incidents.comms.channels",
            ["slack", "pagerduty", "statuspage", "email", "webhook", "person", "mattermost", "teams"],
            "unknown channel",
        ),
        ("incidents.detection.intake", ["alertmanager", "generic", "grafana"], "unknown alert kind"),
        (
            "incidents.detection.probes",
            ["backup_rpo", "cloudflare", "http", "postgres", "prometheus", "redis"],
            "unknown probe kind",
        ),
        ("recovery.providers", None, "unknown provider"),
        ("recovery.actions", None, "unknown action"),
        ("backups.engines", ["postgres", "sqlite", "config", "media", "sessions", "basebackup"], "unknown engine"),
        ("backups.storage", ["local", "cloud", "archive"], "unknown storage tier"),
    ],
)
def test_every_family_is_a_registry(module, names, message):
    family = importlib.import_module(module).REGISTRY
    assert isinstance(family, Registry)
    if names is not None:
        assert family.names() == names
    assert len(family) >= 3
    with pytest.raises(DomainError, match=f"{message} 'nope'; must be one of {family.names()[0]}, "):
        family["nope"]
