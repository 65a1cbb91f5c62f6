"""The web app's Prometheus registry, without a database: what it writes parses back to the
same values, and each app counts on its own."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from service.web.metrics import Metrics


def _samples(
    metrics: Metrics, gauges: dict[str, tuple[str, float]] | None = None
) -> list[tuple[str, dict[str, str], float]]:
    body, _ = metrics.render(gauges or {})
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    ]


def test_metrics__label_values_with_quotes_backslashes_and_newlines_parse_back() -> None:
    metrics = Metrics()
    hostile = 'a "quoted" \\path\\ with\na newline'
    metrics.http_requests.labels("GET", hostile, "200").inc()
    metrics.request_duration.labels("GET", hostile).observe(0.02)
    samples = _samples(metrics)
    assert (
        "replyguard_http_requests_total",
        {"method": "GET", "route": hostile, "status": "200"},
        1.0,
    ) in samples
    counts = [s for s in samples if s[0] == "replyguard_http_request_duration_seconds_count"]
    assert counts == [
        ("replyguard_http_request_duration_seconds_count", {"method": "GET", "route": hostile}, 1.0)
    ]
    body, _ = metrics.render({})
    assert '\\"quoted\\" \\\\path\\\\ with\\na newline' in body.decode()


def test_metrics__process_gc_and_platform_figures_are_exposed() -> None:
    names = {name for name, _, _ in _samples(Metrics())}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert {"python_gc_objects_collected_total", "python_info"} <= names


def test_metrics__each_app_counts_on_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.comments_accepted.labels("daily").inc(2)
    assert ("replyguard_comments_accepted_total", {"site": "daily"}, 2.0) in _samples(first)
    assert not [s for s in _samples(second) if s[0] == "replyguard_comments_accepted_total"]


def test_metrics__gauges_read_at_scrape_time_show_in_that_scrape_only() -> None:
    metrics = Metrics()
    up = {"replyguard_database_up": ("1 if the database answered.", 1.0)}
    assert ("replyguard_database_up", {}, 1.0) in _samples(metrics, up)
    assert not [s for s in _samples(metrics) if s[0] == "replyguard_database_up"]


def test_metrics__openmetrics_on_request_classic_text_by_default() -> None:
    metrics = Metrics()
    assert metrics.render({})[1].startswith("text/plain; version=0.0.4")
    body, content_type = metrics.render({}, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
