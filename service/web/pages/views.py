"""The HTML pages: the moderator's page (``/moderate``), its sign-in and sign-out, a site's
policy, calibration and webhooks (``/moderate/sites/{site}``), the demo article (``/demo``),
and the static files they use (``/static/{name}``, ``/embed.js``).

Handlers here gather each page's values; the markup is in Jinja2 templates
(``templates/``, rendered through ``templating``), which escape every value by default.
What moves (the queue, decisions, claims) is drawn by ``static/moderate.js`` through the
JSON API. Every page sends a Content-Security-Policy that allows scripts from this origin
only, so nothing inline runs, whatever a comment contains.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from moderation.calibration import Calibration
from moderation.domain import DETOXIFY_LABELS, STATUSES, label_order
from moderation.policy import Policy
from service.accounts.auth import csrf_token
from service.errors import BadRequest, FieldError, NotFound, UnsupportedMediaType
from service.store.review import LiveSession, User
from service.store.webhooks import Endpoint
from service.web import keys
from service.web.api.common import cached_site, cors
from service.web.api.review import site_calibration
from service.web.pages.charts import AXES, RULES, charts
from service.web.pages.templating import compile_all, render
from service.web.problems import Handler
from service.web.ratelimit import client_address
from service.web.sessions import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    clear_session_cookie,
    form_token_ok,
    page_session,
    secure_cookies,
    set_session_cookie,
    set_sign_in_cookie,
    sign_in_token,
    sign_in_token_ok,
)
from service.web.validation import ARTICLE_ID, CALIBRATION_DEFAULT, SLUG, body_deadline
from service.wording import plural

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
#: The files ``/static/{name}`` serves, and their types.
STATIC_FILES: Final = {
    "moderate.js": "text/javascript",
    "moderate.css": "text/css",
    "embed.js": "text/javascript",
}
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DEMO_SITE: Final = "demo"
DEMO_ARTICLE: Final = "cycle-lanes-2026"
MAX_FORM_BYTES: Final = 4096

routes = web.RouteTableDef()


# --- static files -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    content_type: str


_ASSETS: dict[str, Asset] = {}


def _read_asset(name: str) -> Asset:
    body = (STATIC_DIR / name).read_bytes()
    return Asset(body, hashlib.sha256(body).hexdigest()[:16], STATIC_FILES[name])


async def _asset(name: str) -> Asset:
    """A static file, read once per process (off the event loop)."""
    asset = _ASSETS.get(name)
    if asset is None:
        asset = await asyncio.to_thread(_read_asset, name)
        _ASSETS[name] = asset
    return asset


async def _asset_url(name: str) -> str:
    """The file's URL with its hash, so it can be cached for good and still change."""
    return f"/static/{name}?v={(await _asset(name)).etag}"


def _asset_response(request: web.Request, asset: Asset, cache: str) -> web.Response:
    headers = {"ETag": f'"{asset.etag}"', "Cache-Control": cache}
    if request.headers.get("If-None-Match") == f'"{asset.etag}"':
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
    )


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise NotFound("No such file.")
    asset = await _asset(name)
    versioned = request.query.get("v") == asset.etag
    cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
    return _asset_response(request, asset, cache)


@routes.get("/embed.js")
async def embed_js(request: web.Request) -> web.Response:
    """The article widget. Any page may include it; it reads only public endpoints."""
    response = _asset_response(request, await _asset("embed.js"), "public, max-age=300")
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


THREAD_ROUTE: Final = "/v1/sites/{site}/articles/{article}/comments"


@web.middleware
async def widget_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Error answers of the public thread endpoint carry the site's CORS headers too, so
    the widget on an article page can read why a comment was refused (a field too long,
    too many comments) instead of seeing only a network error."""
    response = await handler(request)
    if (
        response.status < 400
        or "Origin" not in request.headers
        or "Access-Control-Allow-Origin" in response.headers
    ):
        return response
    resource = request.match_info.route.resource
    if resource is None or resource.canonical != THREAD_ROUTE:
        return response
    try:
        site = await cached_site(request, request.match_info["site"])
    except Exception:
        return response  # an unknown site, or no database: no CORS, as before
    cors(request, response, site)
    return response


# --- rendering ----------------------------------------------------------------------------


def _html(request: web.Request, body: str, *, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(
        {
            "Content-Security-Policy": PAGE_CSP,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
            "Cache-Control": "no-store",
        }
    )
    if secure_cookies(request):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


async def _page(
    request: web.Request,
    template: str,
    *,
    title: str,
    page: str,
    data: dict[str, str] | None = None,
    csrf: str = "",
    script: bool = True,
    http_status: int = 200,
    **context: object,
) -> web.Response:
    """``template`` (which extends base.html) rendered into a response with the pages'
    security headers. ``page`` and ``data`` become the body's ``data-*`` attributes, which
    moderate.js reads; ``csrf`` goes in a meta tag for the script's API calls."""
    await compile_all()
    body = render(
        template,
        title=title,
        page=page,
        data=data or {},
        csrf=csrf,
        css_url=await _asset_url("moderate.css"),
        script_url=await _asset_url("moderate.js") if script else "",
        **context,
    )
    return _html(request, body, status=http_status)


@dataclass(frozen=True, slots=True)
class Header:
    """What _header.html draws: who is signed in, over which sites, the form token for
    signing out, and the site whose policy page the header links to (empty: none)."""

    user: User
    scope: str
    csrf: str
    site_link: str

    @classmethod
    def of(cls, session: LiveSession, csrf: str, *, site_link: str | None) -> Header:
        user = session.user
        scope = "all sites" if user.sites is None else ", ".join(sorted(user.sites))
        return cls(user, scope, csrf, site_link or "")


def _safe_next(value: str | None) -> str:
    """Only a path on the moderator's page: never another site (an open redirect)."""
    if value and value.startswith("/moderate") and "//" not in value and "\\" not in value:
        return value
    return "/moderate"


def _to_sign_in(request: web.Request, note: str | None = None) -> web.HTTPSeeOther:
    query = {"next": request.path_qs}
    if note:
        query["note"] = note
    return web.HTTPSeeOther(f"/moderate/sign-in?{urlencode(query)}")


# --- sign-in and sign-out -----------------------------------------------------------------

_NOTES: Final = {
    "signed-out": "You are signed out.",
    "ended": "Your session has ended. Sign in again.",
}


async def _sign_in_page(
    request: web.Request,
    *,
    name: str = "",
    message: str = "",
    status: int = 200,
    retry_after: int | None = None,
) -> web.Response:
    token, new_token = sign_in_token(request)
    next_path = _safe_next(request.query.get("next"))
    note = _NOTES.get(request.query.get("note", ""), "")
    response = await _page(
        request,
        "sign_in.html",
        title="Sign in",
        page="sign-in",
        script=False,
        http_status=status,
        message=message,
        note=note,
        next_query=urlencode({"next": next_path}),
        token=token,
        name=name,
    )
    if new_token:
        set_sign_in_cookie(request, response, token)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields; 415 for a body that is not a form, 400 for one that
    cannot be read."""
    if request.content_type not in FORM_TYPES:
        raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded.")
    try:
        async with body_deadline(request):
            form = await request.post()
    except ValueError:
        raise BadRequest(
            [FieldError("body", "is not a readable form")], "The form cannot be read."
        ) from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


@routes.get("/moderate/sign-in")
async def sign_in_form(request: web.Request) -> web.Response:
    if await page_session(request) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return await _sign_in_page(request)


@routes.post("/moderate/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    form = await _form(request)
    name = str(form.get("name", ""))[:64]
    password = str(form.get("password", ""))
    if not sign_in_token_ok(request, str(form.get("csrf", ""))):
        return await _sign_in_page(
            request,
            name=name,
            message="The form had expired or came from elsewhere. Try again.",
            status=403,
        )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous and len(previous) <= 100:
        # Signing in again (as anyone) ends the session this browser had.
        await request.app[keys.AUTH].sign_out(previous)
    trusted = request.app[keys.TRUSTED_PROXIES]
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)
    outcome = await request.app[keys.AUTH].sign_in(
        name,
        password,
        remote=str(address or ""),
        user_agent=request.headers.get("User-Agent", ""),
    )
    if outcome.secret is None:
        if outcome.blocked_until is not None:
            wait = max(int((outcome.blocked_until - datetime.now(UTC)).total_seconds()) + 1, 1)
            return await _sign_in_page(
                request,
                name=name,
                message=f"Too many failed sign-ins. Wait {plural(wait, 'second')} and try again.",
                status=429,
                retry_after=wait,
            )
        return await _sign_in_page(
            request, name=name, message="That name and password do not match.", status=401
        )
    response = web.HTTPSeeOther(_safe_next(request.query.get("next")))
    set_session_cookie(request, response, outcome.secret)
    response.del_cookie(SIGN_IN_COOKIE, path="/moderate")
    raise response


@routes.post("/moderate/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    form = await _form(request)
    if not form_token_ok(request, str(form.get("csrf", ""))):
        return await _page(
            request, "refused.html", title="Refused", page="refused", http_status=403
        )
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await request.app[keys.AUTH].sign_out(secret)
    response = web.HTTPSeeOther("/moderate/sign-in?note=signed-out")
    clear_session_cookie(request, response)
    raise response


async def _require_session(request: web.Request) -> tuple[LiveSession, str]:
    session = await page_session(request)
    if session is None:
        had_cookie = SESSION_COOKIE in request.cookies
        raise _to_sign_in(request, "ended" if had_cookie else None)
    return session, csrf_token(request.cookies[SESSION_COOKIE])


# --- the queue ----------------------------------------------------------------------------


#: The queue's filter choices that never change: (value, label) pairs.
LABEL_CHOICES: Final = [("", "any"), *[(x, x.replace("_", " ")) for x in DETOXIFY_LABELS]]
STATUS_CHOICES: Final = [(s, s) for s in STATUSES]
ORDER_CHOICES: Final = [("oldest", "oldest first"), ("score", "highest score first")]


@routes.get("/moderate")
async def moderate(request: web.Request) -> web.Response:
    session, csrf = await _require_session(request)
    principal = session.user.principal()
    sites = await request.app[keys.REVIEW].sites(principal)
    query = request.query
    site = query.get("site", "")
    site = site if any(site == s for s, _ in sites) else ""
    status = query.get("status", "held")
    status = status if status in STATUSES else "held"
    order = query.get("order", "oldest")
    order = order if order in ("oldest", "score") else "oldest"
    label = query.get("label", "")
    label = label if label in DETOXIFY_LABELS else ""
    article = query.get("article", "")
    article = article if ARTICLE_ID.match(article) else ""
    site_choices = [("", "All my sites"), *[(s, f"{name} ({s})") for s, name in sites]]
    policy_site = site or (sites[0][0] if len(sites) == 1 else "")
    settings = request.app[keys.SETTINGS]
    data = {
        "user": session.user.name,
        "role": session.user.role,
        "poll": str(settings.live_poll_interval),
        "site": site,
        "status": status,
        "order": order,
        "label": label,
        "article": article,
    }
    return await _page(
        request,
        "queue.html",
        title="Queue",
        page="queue",
        data=data,
        csrf=csrf,
        header=Header.of(session, csrf, site_link=policy_site or None),
        site_choices=site_choices,
        label_choices=LABEL_CHOICES,
        status_choices=STATUS_CHOICES,
        order_choices=ORDER_CHOICES,
        site=site,
        article=article,
        label=label,
        status=status,
        order=order,
    )


# --- a site's policy and webhooks ---------------------------------------------------------

MODE_CHOICES: Final = [
    ("auto", "auto: by thresholds and terms"),
    ("pre", "pre: hold everything"),
    ("post", "post: publish unless rejected"),
]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _threshold_rows(policy: Policy) -> list[tuple[str, str, str]]:
    """(label as words, hold at, reject at) for each label the policy sets."""
    return [
        (label.replace("_", " "), _number(t.hold_at), _number(t.reject_at))
        for label, t in sorted(policy.thresholds.items(), key=lambda item: label_order(item[0]))
    ]


def _form_rows(policy: Policy) -> list[tuple[str, str, str, str]]:
    """(label, label as words, hold at, reject at) for every Detoxify label, set or not."""
    rows = []
    for label in DETOXIFY_LABELS:
        limits = policy.thresholds.get(label)
        hold = _number(limits.hold_at) if limits else ""
        reject = _number(limits.reject_at) if limits else ""
        rows.append((label, label.replace("_", " "), hold, reject))
    return rows


@dataclass(frozen=True, slots=True)
class WebhookRow:
    """One endpoint as the site page lists it, every cell as text."""

    url: str
    events: str
    sites: str
    state: str
    failing: str
    description: str

    @classmethod
    def of(cls, e: Endpoint) -> WebhookRow:
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason or 'by an admin'})"
        failing = e.failing_since.isoformat(timespec="minutes") if e.failing_since else "—"
        sites = "every site" if e.site_id is None else e.site_id
        return cls(e.url, ", ".join(e.events), sites, state, failing, e.description)


@routes.get("/moderate/sites/{site}")
async def site_page(request: web.Request) -> web.Response:
    session, csrf = await _require_session(request)
    principal = session.user.principal()
    site_id = request.match_info["site"]
    if not SLUG.match(site_id) or not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    site = await request.app[keys.SITES].get(site_id)
    admin = principal.role == "admin"
    webhooks = []
    if admin:
        endpoints = await request.app[keys.WEBHOOKS].visible_to(principal, site_id)
        webhooks = [WebhookRow.of(e) for e in endpoints]
    policy = site.policy
    calibration = Calibration(model=None, decisions=0, left_out=0)
    if admin:
        calibration = await site_calibration(request.app, site_id, CALIBRATION_DEFAULT)
    applied = request.query.get("applied", "")
    data = {"user": session.user.name, "role": session.user.role, "site": site.id}
    return await _page(
        request,
        "site.html",
        title=f"{site.name}: policy",
        page="site",
        data=data,
        csrf=csrf,
        header=Header.of(session, csrf, site_link=site_id),
        site=site,
        origins=", ".join(site.allowed_origins) or "none (same origin only)",
        updated=site.updated_at.isoformat(timespec="minutes"),
        policy=policy,
        links="no limit" if policy.max_links is None else str(policy.max_links),
        thresholds=_threshold_rows(policy),
        admin=admin,
        mode_choices=MODE_CHOICES,
        form_rows=_form_rows(policy),
        max_links="" if policy.max_links is None else str(policy.max_links),
        # The whole policy, so saving the form keeps the rules it does not show.
        policy_json=json.dumps(policy.to_json()),
        webhooks=webhooks,
        calibration=calibration,
        charts=charts(calibration, policy),
        axes=AXES,
        rules=RULES,
        calibration_last=CALIBRATION_DEFAULT,
        # Set by moderate.js after applying a suggestion, to say so over the redrawn charts.
        applied=applied.replace("_", " ") if applied in DETOXIFY_LABELS else "",
    )


# --- the demo article ---------------------------------------------------------------------


@routes.get("/demo")
async def demo(request: web.Request) -> web.Response:
    """A sample article with the widget, to try the service out."""
    site_id = request.query.get("site") or DEMO_SITE
    article_id = request.query.get("article") or DEMO_ARTICLE
    if not SLUG.match(site_id) or not ARTICLE_ID.match(article_id):
        raise NotFound("No such demo.")
    try:
        await request.app[keys.SITES].get(site_id)
        missing = False
    except NotFound:
        missing = True
    return await _page(
        request,
        "demo.html",
        title="Demo article",
        page="demo",
        script=False,
        site_id=site_id,
        article_id=article_id,
        missing=missing,
        origin=str(request.url.origin()),
    )
