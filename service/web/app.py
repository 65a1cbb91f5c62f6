"""``create_app(settings)``: assembles the aiohttp application and does nothing else.

Resources are acquired in ``cleanup_ctx`` generators, so each is released exactly when it
was acquired. Nothing here does I/O at import time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from service.accounts.auth import Authenticator, SessionAwareTokens
from service.netaddr import parse_networks
from service.settings import Settings
from service.store.authors import AuthorRecords
from service.store.comments import CommentStore
from service.store.db import create_engine
from service.store.health import HealthStore
from service.store.jobs import JobStore
from service.store.promotions import PromotionStore
from service.store.review import ReviewStore
from service.store.shadows import ShadowStore
from service.store.sites import SiteStore
from service.store.staff import StaffStore
from service.store.webhooks import WebhookStore
from service.web import keys, openapi, sessions
from service.web.api import authors as author_api
from service.web.api import moderators, operations, promotions, public
from service.web.api import review as review_api
from service.web.api import shadows as shadow_api
from service.web.api import staff as staff_api
from service.web.api import webhooks as webhook_api
from service.web.metrics import Metrics
from service.web.pages import views as pages
from service.web.problems import Handler, problem_middleware
from service.web.ratelimit import LocalLimits
from service.web.validation import refuse_undecodable_headers
from service.webhooks.ssrf import UrlGuard

log = logging.getLogger(__name__)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request by route (not path: ids would explode the series)."""
    started = time.perf_counter()
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    elapsed = time.perf_counter() - started
    metrics = request.app[keys.METRICS]
    metrics.request_duration.labels(request.method, route).observe(elapsed)
    metrics.http_requests.labels(request.method, route, str(response.status)).inc()
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> web.Application:
    """The web application. Pass ``engine`` to share one (tests); else one is made and closed."""
    app = web.Application(
        middlewares=[
            observe,
            pages.widget_cors,
            problem_middleware,
            refuse_undecodable_headers,
            sessions.session_middleware,
        ],
        client_max_size=settings.max_request_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[keys.SITE_CACHE] = {}
    app[keys.LOCAL_LIMITS] = LocalLimits()
    app[keys.TRUSTED_PROXIES] = parse_networks(settings.trusted_proxies)
    app[keys.WEBHOOK_GUARD] = UrlGuard.from_setting(settings.webhook_allowed_networks)
    app[keys.OPENAPI] = openapi.serialised(settings)

    async def database(app: web.Application) -> AsyncIterator[None]:
        owned = engine is None
        db = engine if engine is not None else create_engine(settings)
        app[keys.ENGINE] = db
        app[keys.SITES] = SiteStore(db)
        app[keys.COMMENTS] = CommentStore(db)
        # The moderator's page signs people in; its requests reach the API as them.
        app[keys.AUTH] = Authenticator(db, settings)
        app[keys.TOKENS] = SessionAwareTokens(db, app[keys.AUTH].bridge_token)
        app[keys.REVIEW] = ReviewStore(db)
        app[keys.HEALTH] = HealthStore(db)
        app[keys.JOBS] = JobStore(db)
        app[keys.WEBHOOKS] = WebhookStore(db)
        app[keys.STAFF] = StaffStore(db)
        app[keys.AUTHORS] = AuthorRecords(db)
        app[keys.SHADOWS] = ShadowStore(db)
        app[keys.PROMOTIONS] = PromotionStore(db)
        yield
        if owned:
            await db.dispose()

    app.cleanup_ctx.append(database)
    app.add_routes(public.routes)
    app.add_routes(moderators.routes)
    app.router.add_get("/healthz", operations.healthz)
    app.add_routes(webhook_api.routes)
    app.add_routes(review_api.routes)
    app.add_routes(staff_api.routes)
    app.add_routes(author_api.routes)
    app.add_routes(shadow_api.routes)
    app.add_routes(promotions.routes)
    app.add_routes(pages.routes)
    app.router.add_get("/v1/openapi.json", openapi.handler)
    return app


def create_ops_app(public: web.Application) -> web.Application:
    """The operations listener's app: ``/healthz``, ``/readyz`` and ``/metrics``, answered
    from ``public``'s stores and counters (so ``/metrics`` counts the public requests).
    Start it after ``public``: it takes the stores ``public``'s startup made."""
    ops = web.Application(middlewares=[problem_middleware])
    ops[keys.SETTINGS] = public[keys.SETTINGS]
    ops[keys.METRICS] = public[keys.METRICS]

    async def share_stores(ops: web.Application) -> None:
        ops[keys.HEALTH] = public[keys.HEALTH]
        ops[keys.JOBS] = public[keys.JOBS]
        ops[keys.WEBHOOKS] = public[keys.WEBHOOKS]
        ops[keys.SHADOWS] = public[keys.SHADOWS]
        ops[keys.PROMOTIONS] = public[keys.PROMOTIONS]

    ops.on_startup.append(share_stores)
    ops.router.add_get("/healthz", operations.healthz)
    ops.add_routes(operations.operations)
    return ops
