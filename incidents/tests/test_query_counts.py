"""The list and detail cost a fixed number of queries whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.lifecycle import services

pytestmark = pytest.mark.django_db


def make(n, users):
    for i in range(n):
        inc = services.incident_declare(severity="P2", title=f"i{i}", services=["api", "cache"], actor="t")
        services.incident_assign(incident=inc, commander="responder", actor="t")
        services.incident_post_update(incident=inc, public_status="identified", message="m", actor="t")


def count(client, path):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow(api, users):
    client = api("viewer")
    make(2, users)
    few = count(client, "/api/v1/incidents/")
    make(20, users)
    assert count(client, "/api/v1/incidents/") == few


def test_detail_and_timeline_query_count_does_not_grow(api, users, django_assert_max_num_queries):
    client = api("viewer")
    make(1, users)
    inc = services.incident_declare(severity="P1", title="x", services=["api"], actor="t")
    few_detail = count(client, f"/api/v1/incidents/{inc.public_id}/")
    few_timeline = count(client, f"/api/v1/incidents/{inc.public_id}/timeline/")
    for i in range(30):
        services.incident_note(incident=inc, message=f"note {i}", actor="t")
    assert count(client, f"/api/v1/incidents/{inc.public_id}/") == few_detail
    assert count(client, f"/api/v1/incidents/{inc.public_id}/timeline/") == few_timeline
    with django_assert_max_num_queries(few_timeline):
        client.get(f"/api/v1/incidents/{inc.public_id}/timeline/")
