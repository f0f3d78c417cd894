"""The product's one duration and one timestamp format, and the template library that exposes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from pitchey_incidents.timefmt import format_duration, format_timestamp


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.9, "0 s"),
        (45, "45 s"),
        (59, "59 s"),
        (59.9, "59 s"),
        (-59.9, "59 s"),
        (60, "1 min"),
        (900, "15 min"),
        (1000, "16 min 40 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h"),
        (3601, "1 h 1 s"),
        (3660, "1 h 1 min"),
        (3900, "1 h 5 min"),
        (4 * 3600, "4 h"),
        (86400, "1 d"),
        (86460, "1 d 1 min"),
        (90061, "1 d 1 h"),
        (97200, "1 d 3 h"),
        (2 * 86400, "2 d"),
        (-75, "1 min 15 s"),
        (-3600, "1 h"),
        (None, "—"),
        ("", "—"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_format_duration_takes_a_timedelta():
    assert format_duration(timedelta(hours=1, minutes=5, seconds=59)) == "1 h 5 min"
    assert format_duration(timedelta(seconds=-30)) == "30 s"


def test_format_timestamp_in_the_site_zone_with_its_name():
    moment = datetime(2026, 11, 2, 9, 0, 7, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-11-02 09:00 UTC"
    assert format_timestamp(moment, seconds=True) == "2026-11-02 09:00:07 UTC"
    assert format_timestamp(None) == "—"
    assert format_timestamp(datetime(2026, 11, 2, 9, 0)) == "2026-11-02 09:00 UTC"  # naive: taken as UTC
    with timezone.override(ZoneInfo("Europe/Berlin")):
        assert format_timestamp(moment) == "2026-11-02 10:00 CET"


def render(source: str, **context) -> str:
    return Template("{% load pitchey_format %}" + source).render(Context(context))


def test_template_filters_and_tags():
    due = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert render("{{ s|duration }}", s=3900) == "1 h 5 min"
    assert render("{{ s|duration }}", s=None) == "—"
    assert render("{{ at|timestamp }}", at=due) == "2026-11-02 09:00 UTC"
    assert render('{{ at|timestamp:"seconds" }}', at="2026-11-02T09:00:07+00:00") == "2026-11-02 09:00:07 UTC"
    assert render("{% elapsed start end %}", start=due, end=due + timedelta(minutes=75)) == "1 h 15 min"
    assert render("{% countdown due now %}", due=due, now=due - timedelta(seconds=252)) == "due in 4 min 12 s"
    assert render("{% countdown due now %}", due=due, now=due + timedelta(seconds=65)) == "OVERDUE by 1 min 5 s"
    assert render("{{ r|percent }}", r=0.5) == "50 %"


def test_markdown_cell_filters():
    assert render("{{ t|md_line }}", t="a\n  b\tc") == "a b c"
    assert render("{% autoescape off %}{{ t|md_cell }}{% endautoescape %}", t="a | b\nc") == "a \\| b c"
    assert len(render("{{ t|md_cell }}", t="x" * 400)) == 300
