"""``/metrics`` rendering: the apps' ``collect()`` tuples through prometheus_client's text format."""

from pitchey_incidents import metrics


def test_families_render_in_the_text_format_and_a_failing_collector_is_reported(monkeypatch):
    def good():
        yield ("demo_requests_total", "counter", "Requests,\nby code.", [({"z": "1", "a": 'q"\\'}, 3)])
        yield ("demo_ratio", "gauge", "A ratio.", [({}, 0.25), ({"kind": "x"}, float("nan"))])

    def broken():
        yield ("demo_partial", "gauge", "Yielded before the failure.", [({}, 7)])
        raise RuntimeError("boom")

    monkeypatch.setattr(metrics, "collectors", lambda: [good, broken])
    assert metrics.gather() == (
        "# HELP demo_requests_total Requests,\\nby code.\n"
        "# TYPE demo_requests_total counter\n"
        'demo_requests_total{a="q\\"\\\\",z="1"} 3.0\n'
        "# HELP demo_ratio A ratio.\n"
        "# TYPE demo_ratio gauge\n"
        "demo_ratio 0.25\n"
        'demo_ratio{kind="x"} NaN\n'
        "# HELP demo_partial Yielded before the failure.\n"
        "# TYPE demo_partial gauge\n"
        "demo_partial 7.0\n"
        "# HELP pitchey_metrics_collector_errors A collector that failed.\n"
        "# TYPE pitchey_metrics_collector_errors gauge\n"
        f'pitchey_metrics_collector_errors{{module="{__name__}"}} 1.0\n'
    )
