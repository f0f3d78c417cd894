"""Transactional tests flush every table, data migrations included: put the runbook's catalog back
(idempotently) before each database test, so plans and targets are there whatever ran before."""

import pytest


@pytest.fixture(autouse=True)
def runbook_defaults(request):
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    from django.apps import apps

    from backups.defaults import seed as seed_backups
    from incidents.defaults import seed as seed_incidents
    from pitchey_incidents.defaults import seed as seed_roles
    from recovery.defaults import seed as seed_recovery

    seed_roles(apps)

    seed_incidents(apps)
    seed_backups(apps)
    seed_recovery(apps)
