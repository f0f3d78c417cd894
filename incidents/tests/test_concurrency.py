"""Concurrency on PostgreSQL: ids stay unique, a transition happens exactly once."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, TimelineEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_threads(n, fn):
    barrier = Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=30)
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_50_concurrent_declarations_get_50_distinct_ids(users):
    incidents = in_threads(50, lambda i: services.incident_declare(severity="P2", title=f"storm {i}", actor="t"))
    ids = {i.public_id for i in incidents}
    assert len(ids) == 50 and Incident.objects.count() == 50
    assert TimelineEntry.objects.filter(kind="declared").count() == 50


def test_20_concurrent_resolves_one_success_rest_409(users):
    incident = services.incident_declare(severity="P1", title="race", actor="t")
    token = Token.objects.create(user=users["commander"]).key

    def resolve(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        r = client.post(f"/api/v1/incidents/{incident.public_id}/resolve/", {"resolution": f"fix {i}"}, format="json")
        return r.status_code, r.json().get("status")

    results = in_threads(20, resolve)
    codes = sorted(code for code, _ in results)
    assert codes == [200] + [409] * 19, results
    assert all(status == "resolved" for code, status in results if code == 409)
    assert TimelineEntry.objects.filter(incident=incident, kind="resolved").count() == 1
