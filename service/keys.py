"""Every object the aiohttp app shares, as a typed ``web.AppKey``, in one place."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from service.metrics import Metrics
from service.settings import Settings
from service.stores import CommentStore, HealthStore, JobStore, Site, SiteStore, TokenStore

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
