"""The live stream under the real ASGI server: login, resume from Last-Event-ID, live delivery."""

import json

import pytest
from django.db import connection

from incidents.lifecycle import services
from incidents.tests.sse import SSEStream, session_cookie
from pitchey_incidents import events
from pitchey_incidents.testing import start_web

# The web server is another process: it reads committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(tmp_path, transactional_db):
    proc, base = start_web(tmp_path)
    yield base
    proc.stop()


@pytest.fixture
def streams():
    opened = []

    def open_(*args, **kwargs) -> SSEStream:
        stream = SSEStream(*args, **kwargs)
        opened.append(stream)
        return stream

    yield open_
    for stream in opened:
        stream.close()


def test_stream_needs_a_viewer(web, users, streams):
    assert streams(web, cookie=None).status == 401
    assert streams(web, cookie=session_cookie(users["nobody"])).status == 403


def test_stream_resumes_after_last_event_id_and_goes_on_live(web, users, streams):
    first = events.emit("incident.declared", "incident:INC-00042", {"secret": "not sent"})
    events.emit("backup.progress", "backup:7", {})
    events.emit("incident.acknowledged", "incident:INC-00042", {})
    cookie = session_cookie(users["viewer"])

    stream = streams(web, cookie=cookie, headers={"Last-Event-ID": str(first.id)})
    assert stream.status == 200 and stream.response.getheader("Content-Type").startswith("text/event-stream")
    got = stream.events(3)
    assert [(e["event"], json.loads(e["data"])["kind"]) for e in got] == [
        ("backup", "backup.progress"),
        ("incident", "incident.acknowledged"),
        ("INC-00042", "incident.acknowledged"),
    ]
    assert got[0]["id"] == str(first.id + 1) and got[1]["id"] == str(first.id + 2)
    assert "secret" not in got[1]["data"]

    # The same resume point given as a query parameter (what the page's EventSource URL carries).
    again = streams(web, cookie=cookie, path=f"/events/stream/?last_event_id={first.id + 1}")
    assert [e["event"] for e in again.events(2)] == ["incident", "INC-00042"]

    # Then it goes on live: a change made now reaches both streams.
    incident = services.incident_declare(severity="P2", title="Live", actor=users["commander"])
    for s in (stream, again):
        live = s.events(2)
        assert [e["event"] for e in live] == ["incident", incident.public_id]
        assert json.loads(live[0]["data"])["kind"] == "incident.declared"


def test_stream_without_resume_point_starts_at_now(web, users, streams):
    events.emit("incident.declared", "incident:INC-00001", {})
    stream = streams(web, cookie=session_cookie(users["viewer"]))
    assert stream.next_block() == {"retry": "2000"}
    events.emit("audit", "audit:1", {})
    assert [e["event"] for e in stream.events(1)] == ["audit"]


@pytest.mark.postgres
def test_idle_streams_hold_no_database_connection(web, users, streams):
    cookie = session_cookie(users["viewer"])

    def connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    opened = [streams(web, cookie=cookie) for _ in range(20)]
    for s in opened:
        assert s.next_block() == {"retry": "2000"}
    assert connections() <= 5  # this test's own connection, plus at most a read in flight
    events.emit("incident.declared", "incident:INC-00009", {})
    for s in opened:
        assert s.events(1)[0]["event"] == "incident"
