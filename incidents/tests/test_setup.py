"""The setup report: /setup/, `manage.py doctor` and GET /api/v1/setup/ say what is missing and what
that means, and a commander can send a test message on each configured channel."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.comms.models import EscalationTarget
from incidents.lifecycle.models import EscalationLevel
from incidents.setup import setup_report

pytestmark = pytest.mark.django_db

NOBODY = "A P0 will page nobody"
DETECTION_OFF = "Error-rate detection is off: set PROMETHEUS_URL or SERVICE_HEALTH_URLS"


@pytest.fixture
def bare(settings):
    for name in ("SLACK_WEBHOOK", "SLACK_WEBHOOK_CRITICAL", "SLACK_WEBHOOK_WARNING", "PAGERDUTY_ROUTING_KEY"):
        setattr(settings, name, "")
    settings.PROMETHEUS_URL = ""
    settings.SERVICE_HEALTH_URLS = {}
    return settings


def items(report: dict) -> dict[str, dict]:
    return {f"{i['section']}:{i['key']}": i for s in report["sections"] for i in s["items"]}


def doctor(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("doctor", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue()


def test_fresh_install_says_a_p0_pages_nobody_and_what_to_set(bare):
    report = setup_report()
    assert report["p0_pages_nobody"] and not report["complete"]
    assert report["consequences"][0].startswith(NOBODY)
    assert any(line.startswith(DETECTION_OFF) for line in report["consequences"])
    found = items(report)
    assert found["Channels:slack"] == {
        **found["Channels:slack"], "status": "missing", "set": "SLACK_WEBHOOK", "testable": False,
    }  # fmt: skip
    assert found["Channels:pagerduty"]["set"] == "PAGERDUTY_ROUTING_KEY"
    assert found["On-call levels:level-1"]["status"] == "missing"
    assert "Level 1 (Primary on-call) pages no one." in report["consequences"]
    assert found["Backup tiers:local"]["status"] == "configured"
    code, text = doctor()
    assert code == 1 and NOBODY in text and "Slack: missing (set SLACK_WEBHOOK)" in text
    code, text = doctor("--json")
    assert code == 1 and json.loads(text)["p0_pages_nobody"] is True


def test_pagerduty_or_slack_with_someone_on_call_means_a_p0_pages_someone(bare, users):
    bare.SLACK_WEBHOOK = "http://127.0.0.1:9/hook"
    assert setup_report()["p0_pages_nobody"]  # Slack, but nobody named on any level
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), user=users["responder"])
    report = setup_report()
    assert not report["p0_pages_nobody"] and NOBODY not in " ".join(report["consequences"])
    assert items(report)["On-call levels:level-1"]["detail"] == "responder"
    assert doctor()[0] == 0
    bare.SLACK_WEBHOOK = ""
    bare.PAGERDUTY_ROUTING_KEY = "R0UT1NGKEY0123456789012345678901"
    assert not setup_report()["p0_pages_nobody"]
    bare.SERVICE_HEALTH_URLS = {"api": "http://127.0.0.1:9/health"}
    assert items(setup_report())["Detection:error_rate"]["status"] == "configured"


def test_api_and_schema(bare, api):
    assert api(None).get("/api/v1/setup/").status_code == 401
    r = api("viewer").get("/api/v1/setup/")
    assert r.status_code == 200 and r.json()["p0_pages_nobody"] is True
    assert {s["name"] for s in r.json()["sections"]} >= {
        "Channels",
        "Targets",
        "Providers",
        "Backup tiers",
        "On-call levels",
    }
    schema = api("viewer").get("/api/schema/?format=json").json()
    assert "/api/v1/setup/" in schema["paths"]
    assert "p0_pages_nobody" in json.dumps(schema["components"]["schemas"])


def test_setup_page_and_dashboard_link(bare, page):
    viewer = page("viewer")
    dash = viewer.get("/").content.decode()
    assert 'href="/setup/"' in dash and "data-setup-missing" in dash and NOBODY in dash
    html = viewer.get("/setup/").content.decode()
    assert NOBODY in html and DETECTION_OFF in html and "set <code>SLACK_WEBHOOK</code>" in html
    assert "Send test" not in html
    assert page(None).get("/setup/").status_code == 302


def test_commander_sends_a_test_message_on_a_configured_channel(vendors, page, settings):
    html = page("commander").get("/setup/").content.decode()
    assert html.count("Send test") >= 2  # Slack and the PagerDuty test page
    assert page("responder").post("/setup/", {"channel": "slack"}).status_code == 403
    r = page("commander").post("/setup/", {"channel": "slack"})
    assert r.status_code == 200 and "✓ Test message sent on slack" in r.content.decode()
    assert any("Test message from Pitchey Incidents" in m["text"] for m in vendors.slack.messages())
    settings.CUSTOMER_EMAILS = []
    r = page("commander").post("/setup/", {"channel": "email"})
    assert r.status_code == 400 and "not configured: set CUSTOMER_EMAILS" in r.content.decode()
