"""/metrics on the operations listener, parsed as Prometheus parses it: every series the
service has always exposed, with its type, beside the process's own figures."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SiteFactory

Client = TestClient[Any, Any]

#: Every family /metrics exposed before it moved to prometheus_client, and its type.
SERVICE_FAMILIES = {
    "replyguard_http_requests": "counter",
    "replyguard_http_request_duration_seconds": "histogram",
    "replyguard_comments_accepted": "counter",
    "replyguard_comments_rate_limited": "counter",
    "replyguard_database_up": "gauge",
    "replyguard_scoring_jobs_queued": "gauge",
    "replyguard_scoring_jobs_running": "gauge",
    "replyguard_scoring_jobs_failed": "gauge",
    "replyguard_oldest_pending_seconds": "gauge",
    "replyguard_sites_in_backlog": "gauge",
    "replyguard_webhook_events_unfanned": "gauge",
    "replyguard_webhook_deliveries_pending": "gauge",
    "replyguard_webhook_deliveries_delivering": "gauge",
    "replyguard_webhook_deliveries_failed": "gauge",
    "replyguard_webhook_deliveries_dead": "gauge",
}


async def test_metrics__keeps_every_series_and_adds_process_figures(
    client: Client, ops_client: Client, make_site: SiteFactory
) -> None:
    await make_site()
    posted = await client.post(
        "/v1/sites/daily/articles/a1/comments", json={"body": "hello", "author_name": "Ann"}
    )
    assert posted.status == 202, await posted.text()
    response = await ops_client.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    assert {name: families[name].type for name in SERVICE_FAMILIES} == SERVICE_FAMILIES
    accepted = families["replyguard_comments_accepted"].samples
    assert [(s.labels, s.value) for s in accepted] == [({"site": "daily"}, 1.0)]
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    assert "python_gc_collections" in families
