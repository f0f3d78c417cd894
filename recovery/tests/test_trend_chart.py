"""The drill trend: the measured drills' achieved RTO/RPO, one line per subject, against its target."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from recovery.models import Objective, RecoveryRun, RunKind, RunStatus
from recovery.views import drill_trend

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def drill(minutes: int, **achieved: float | None) -> RecoveryRun:
    run = RecoveryRun.objects.create(
        kind=RunKind.DRILL,
        plan="database",
        status=RunStatus.SUCCEEDED,
        requested_by="tester",
        finished_at=T0 + timedelta(minutes=minutes),
    )
    for subject, value in achieved.items():
        Objective.objects.create(run=run, kind="rto", subject=subject, target_s=300, max_s=900, achieved_s=value)
    return run


def test_empty_trend_says_so():
    root = ET.fromstring(drill_trend().render())
    assert [t.text for t in root.iter(f"{SVG}text")] == ["No measured drills yet."]


def test_one_line_per_subject_against_its_target():
    first, second = drill(0, api=120.0, database=600.0), drill(60, api=200.0, database=None)
    chart = drill_trend()
    assert chart.labels == [f"#{first.id}", f"#{second.id}"]
    assert [(s.name, s.key, list(s.values)) for s in chart.series] == [
        ("rto:api", "c0", [120.0, 200.0]),
        ("rto:database", "c1", [600.0, None]),
    ]
    assert chart.references == [("rto:api target", 300), ("rto:database target", 300)]
    root = ET.fromstring(chart.render())
    assert len(root.findall(f"{SVG}polyline")) == 1  # the database line has one point: no line, one dot
    assert len(root.findall(f"{SVG}circle")) == 3


def test_trend_svg_is_a_document_linking_the_page_styles(client, users):
    drill(0, api=120.0)
    client.force_login(users["viewer"])
    answer = client.get("/recovery/trend.svg")
    body = answer.content.decode()
    assert answer["Content-Type"] == "image/svg+xml"
    assert body.startswith('<?xml-stylesheet type="text/css" href="/static/css/app.css"?>')
    assert ET.fromstring(body).tag == f"{SVG}svg"
