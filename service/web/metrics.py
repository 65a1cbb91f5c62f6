"""Prometheus metrics: one ``prometheus_client`` registry per web app.

Each app gets a registry of its own (not the library's global one), so several apps in one
process (tests, ``serve``) never share or collide on a series. Besides the service's own
counters and its latency histogram, the registry carries the library's process, GC and
platform collectors. Queue depth and age are read from PostgreSQL at scrape time, so every
replica reports the same truth: the handler reads them and hands them to ``render``, which
shows them through a collector for the length of that one scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# A ``*_created`` series beside every counter and histogram would double what Prometheus
# stores for a timestamp it already has (the process start time); this exposition never
# had them. The switch is the library's, process-wide: it is set here, before any metric
# (the library leaves the function unannotated; its type is spelled out here).
_disable_created_series: Callable[[], None] = prometheus_client.disable_created_metrics
_disable_created_series()

#: A gauge read at scrape time: its name, its help text and its value.
Gauges = Mapping[str, tuple[str, float]]


class _ScrapeGauges(Collector):
    """Shows the gauges the handler read from PostgreSQL, during one ``render`` only."""

    def __init__(self) -> None:
        self.gauges: Gauges = {}

    def collect(self) -> Iterator[Metric]:
        for name, (help_text, value) in sorted(self.gauges.items()):
            yield GaugeMetricFamily(name, help_text, value=value)

    def describe(self) -> Iterator[Metric]:
        # Names vary with the database's answer: nothing to reserve at registration.
        return iter(())


class Metrics:
    """The web app's series. Handlers count through the named attributes; ``/metrics``
    calls ``render``. Used from the event loop's thread (the library locks anyway)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http_requests = Counter(
            "replyguard_http_requests_total",
            "HTTP requests answered.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "replyguard_http_request_duration_seconds",
            "Time to answer HTTP requests.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.comments_accepted = Counter(
            "replyguard_comments_accepted_total",
            "Comments accepted (202).",
            ("site",),
            registry=self.registry,
        )
        self.comments_rate_limited = Counter(
            "replyguard_comments_rate_limited_total",
            "Submissions refused (429).",
            ("site",),
            registry=self.registry,
        )
        self._scrape = _ScrapeGauges()
        self.registry.register(self._scrape)

    def render(self, gauges: Gauges, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type, in the format ``accept`` asks for (the
        classic text format by default, OpenMetrics on request), with ``gauges`` in it.
        Nothing awaits between setting the gauges and reading them, so concurrent scrapes
        on the event loop cannot see each other's."""
        encode, content_type = choose_encoder(accept)
        self._scrape.gauges = gauges
        try:
            return encode(self.registry), content_type
        finally:
            self._scrape.gauges = {}
