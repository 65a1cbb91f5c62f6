"""Every object the aiohttp app shares, as a typed ``web.AppKey``, in one place."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from service.accounts.auth import Authenticator
from service.netaddr import IPNetwork
from service.settings import Settings
from service.store.authors import AuthorRecords
from service.store.comments import CommentStore
from service.store.health import HealthStore
from service.store.jobs import JobStore
from service.store.promotions import PromotionStore
from service.store.review import ReviewStore
from service.store.shadows import ShadowStore
from service.store.sites import SiteStore
from service.store.staff import StaffStore
from service.store.tokens import TokenStore
from service.store.values import Site
from service.store.webhooks import WebhookStore
from service.web.metrics import Metrics
from service.web.ratelimit import LocalLimits
from service.webhooks.ssrf import UrlGuard

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SITES = web.AppKey("sites", SiteStore)
COMMENTS = web.AppKey("comments", CommentStore)
TOKENS = web.AppKey("tokens", TokenStore)
HEALTH = web.AppKey("health", HealthStore)
METRICS = web.AppKey("metrics", Metrics)
JOBS = web.AppKey("jobs", JobStore)
#: site id -> (monotonic time read, site): a couple of seconds of caching on the hot path.
SITE_CACHE = web.AppKey("site_cache", dict[str, tuple[float, Site]])
#: This process's own count of the rate limits, in front of PostgreSQL's (service.web.ratelimit).
LOCAL_LIMITS = web.AppKey("local_limits", LocalLimits)
#: Proxies whose X-Forwarded-For is believed.
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[IPNetwork, ...])
WEBHOOKS = web.AppKey("webhooks", WebhookStore)
#: Checks webhook URLs at registration (the deliverer has its own, same settings).
WEBHOOK_GUARD = web.AppKey("webhook_guard", UrlGuard)
#: Sign-in, sessions and users for the moderator's page (service.accounts.auth).
AUTH = web.AppKey("auth", Authenticator)
#: Claims, live changes and counts for the moderator's page (service.store.review).
REVIEW = web.AppKey("review", ReviewStore)
#: Tokens, users and the staff audit, for admins (service.store.staff).
STAFF = web.AppKey("staff", StaffStore)
#: /v1/openapi.json as served: made once from this app's settings (service.web.openapi).
OPENAPI = web.AppKey("openapi", str)
#: Authors on a site: history, recent comments, sanctions (service.store.authors).
AUTHORS = web.AppKey("authors", AuthorRecords)
#: Shadow models' scores, the models workers run, their figures (service.store.shadows).
SHADOWS = web.AppKey("shadows", ShadowStore)
#: Models promoted per site or for every site, and their history (service.store.promotions).
PROMOTIONS = web.AppKey("promotions", PromotionStore)
