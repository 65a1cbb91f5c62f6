"""Operations: ``/healthz`` (also on the public listener, for load balancers), and
``/readyz`` and ``/metrics``, which name sites and queue internals and so are served on the
operations listener only (service.web.serving)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from service.web import keys
from service.wording import plural

CORS_HEADERS: Final = "Content-Type, Authorization, Idempotency-Key"
#: Rows a site's comment count is spread over (service.web.ratelimit.Check): as many comments
#: to one site can be written at once.
SITE_LIMIT_SHARDS: Final = 16

#: /readyz and /metrics: never on the public listener.
operations = web.RouteTableDef()


# --- operations ---------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """The process is up. Says nothing of the database: that is /readyz."""
    return web.json_response({"status": "ok"})


@operations.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers, the schema is applied and a scorer is live; else
    503 naming each failing check and what it is waiting for (``failing``)."""
    settings = request.app[keys.SETTINGS]
    checks: dict[str, Any] = {}
    failing: dict[str, str] = {}
    try:
        health = await request.app[keys.HEALTH].check(settings.worker_stale_after)
        checks["database"] = "ok"
        schema_ok = health["schema_version"] is not None
        checks["schema"] = f"version {health['schema_version']}" if schema_ok else "missing"
        checks["scorers"] = health["live_scorers"]
        # A backlog is reported, not failed on: ingest keeps accepting, the queue buffers.
        checks["backlog"] = await request.app[keys.JOBS].open_backlogs()
        if not schema_ok:
            failing["schema"] = "schema.sql is not applied yet; `replyguard migrate` applies it"
        if health["live_scorers"] == 0:
            failing["scorers"] = (
                "no scoring worker has reported in the last "
                f"{plural(settings.worker_stale_after, 'second')}; one may still be loading "
                "its model (see the worker's log), or none is running (`replyguard worker`)"
            )
    except Exception as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
        failing["database"] = f"the database cannot be reached ({type(error).__name__})"
    body: dict[str, Any] = {"status": "not ready" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    response = web.json_response(body, status=503 if failing else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@operations.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Counters and process figures (CPU, memory, GC) from this process; queue gauges from
    PostgreSQL, the same on every replica."""
    settings = request.app[keys.SETTINGS]
    gauges: dict[str, tuple[str, float]] = {}
    try:
        jobs = await request.app[keys.JOBS].stats()
        deliveries = await request.app[keys.WEBHOOKS].stats()
        backlogs = await request.app[keys.JOBS].open_backlogs()
        _, shadows = await request.app[keys.SHADOWS].models(settings.worker_stale_after)
        promoted = await request.app[keys.PROMOTIONS].worker_reports(settings.worker_stale_after)
    except Exception:
        gauges = {"replyguard_database_up": ("1 if the database answered.", 0.0)}
    else:
        gauges = {
            "replyguard_database_up": ("1 if the database answered.", 1.0),
            "replyguard_scoring_jobs_queued": ("Scoring jobs waiting.", jobs["queued"]),
            "replyguard_scoring_jobs_running": ("Scoring jobs leased.", jobs["running"]),
            "replyguard_scoring_jobs_failed": ("Jobs out of attempts.", jobs["failed"]),
            "replyguard_oldest_pending_seconds": (
                "Age of the oldest unscored comment.",
                jobs["oldest_age"],
            ),
            "replyguard_sites_in_backlog": (
                "Sites whose oldest unscored comment is past their limit.",
                float(len(backlogs)),
            ),
            "replyguard_shadow_models_failed": (
                "Shadow models the live workers could not load (one per worker).",
                float(sum(s.workers for s in shadows if s.state == "failed")),
            ),
            "replyguard_promoted_models_failed": (
                "Promoted models the live workers could not load (one per worker and model): "
                "their sites are still scored by the model before.",
                float(sum(1 for _, items in promoted for m in items if m.get("state") == "failed")),
            ),
            "replyguard_shadow_batches_failed": (
                "Batches shadow models failed to score or ran out of time on, since each "
                "live worker started.",
                float(sum(s.failures for s in shadows)),
            ),
            "replyguard_shadow_comments_skipped": (
                "Comments shadow models skipped while busy, since each live worker started.",
                float(sum(s.skipped for s in shadows)),
            ),
            "replyguard_webhook_events_unfanned": (
                "Outbox events not yet turned into deliveries.",
                deliveries["unfanned"],
            ),
        }
        for state in ("pending", "delivering", "failed", "dead"):
            gauges[f"replyguard_webhook_deliveries_{state}"] = (
                f"Webhook deliveries {state}.",
                deliveries[state],
            )
    accept = request.headers.get("Accept", "")
    body, content_type = request.app[keys.METRICS].render(gauges, accept)
    return web.Response(body=body, headers={"Content-Type": content_type})
