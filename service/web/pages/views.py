"""The HTML pages: the moderator's page (``/moderate``), its sign-in and sign-out, a site's
policy and webhooks (``/moderate/sites/{site}``), the demo article (``/demo``), and the
static files they use (``/static/{name}``, ``/embed.js``).

Pages are rendered here as plain HTML with every value escaped; what moves (the queue,
decisions, claims) is drawn by ``static/moderate.js`` through the JSON API. Every page
sends a Content-Security-Policy that allows scripts from this origin only, so nothing
inline runs, whatever a comment contains.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlencode

from aiohttp import web

from moderation.domain import DETOXIFY_LABELS, STATUSES
from moderation.policy import Policy
from service.accounts.auth import csrf_token
from service.errors import BadRequest, FieldError, NotFound, UnsupportedMediaType
from service.store.review import LiveSession
from service.store.webhooks import Endpoint
from service.web import keys
from service.web.api.common import cached_site, cors
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
from service.web.validation import ARTICLE_ID, SLUG, body_deadline
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


def h(value: object) -> str:
    """Escape for HTML text and quoted attributes alike."""
    return escape("" if value is None else str(value), quote=True)


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


async def _document(
    title: str,
    main: str,
    *,
    page: str,
    data: dict[str, str] | None = None,
    csrf: str = "",
    script: bool = True,
) -> str:
    attributes = "".join(f' data-{k}="{h(v)}"' for k, v in (data or {}).items())
    meta = f'<meta name="csrf-token" content="{h(csrf)}">' if csrf else ""
    script_tag = (
        f'<script src="{h(await _asset_url("moderate.js"))}" defer></script>' if script else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
{meta}
<title>{h(title)} · replyguard</title>
<link rel="stylesheet" href="{h(await _asset_url("moderate.css"))}">
{script_tag}
</head>
<body data-page="{h(page)}"{attributes}>
{main}
</body>
</html>
"""


def _header(session: LiveSession, csrf: str, *, site_link: str | None) -> str:
    user = session.user
    scope = "all sites" if user.sites is None else ", ".join(sorted(user.sites))
    policy_link = (
        f'<a href="/moderate/sites/{h(quote(site_link))}">Policy &amp; webhooks</a>'
        if site_link
        else ""
    )
    return f"""<header class="top">
  <a class="brand" href="/moderate">replyguard <span>moderation</span></a>
  <nav aria-label="Pages"><a href="/moderate">Queue</a>{policy_link}</nav>
  <div class="me">
    <span class="who" title="{h(scope)}">{h(user.name)} · {h(user.role)}</span>
    <form method="post" action="/moderate/sign-out">
      <input type="hidden" name="csrf" value="{h(csrf)}">
      <button type="submit" class="quiet">Sign out</button>
    </form>
  </div>
</header>"""


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
    alert = f'<p class="alert" role="alert">{h(message)}</p>' if message else ""
    info = f'<p class="note" role="status">{h(note)}</p>' if note and not message else ""
    main = f"""<main class="sign-in">
  <h1>replyguard <span>moderation</span></h1>
  {info}{alert}
  <form method="post" action="/moderate/sign-in?{h(urlencode({"next": next_path}))}">
    <input type="hidden" name="csrf" value="{h(token)}">
    <label for="name">Name</label>
    <input id="name" name="name" autocomplete="username" required maxlength="64"
           value="{h(name)}" autofocus>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password"
           required maxlength="1024">
    <button type="submit">Sign in</button>
  </form>
</main>"""
    document = await _document("Sign in", main, page="sign-in", script=False)
    response = _html(request, document, status=status)
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
        return _html(
            request,
            await _document(
                "Refused",
                '<main class="sign-in"><h1>Refused</h1><p class="alert" role="alert">'
                "That request did not come from your moderator page (its CSRF token is "
                'missing or wrong). <a href="/moderate">Back to the queue</a></p></main>',
                page="refused",
            ),
            status=403,
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


def _options(choices: list[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{h(v)}"{" selected" if v == selected else ""}>{h(label)}</option>'
        for v, label in choices
    )


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
    label_options = _options(
        [("", "any"), *[(x, x.replace("_", " ")) for x in DETOXIFY_LABELS]], label
    )
    status_options = _options([(s, s) for s in STATUSES], status)
    order_options = _options([("oldest", "oldest first"), ("score", "highest score first")], order)
    main = f"""{_header(session, csrf, site_link=policy_site or None)}
<main class="queue-page">
  <section class="summary" aria-label="Queue counts">
    <ul id="counts" class="counts"></ul>
  </section>
  <form id="filters" class="filters" method="get" action="/moderate">
    <label>Site <select name="site">{_options(site_choices, site)}</select></label>
    <label>Article <input name="article" list="articles" value="{h(article)}"
      maxlength="200" placeholder="any" autocomplete="off"></label>
    <datalist id="articles"></datalist>
    <label>Label <select name="label">{label_options}</select></label>
    <label>Status <select name="status">{status_options}</select></label>
    <label>Order <select name="order">{order_options}</select></label>
    <button type="submit">Apply</button>
  </form>
  <div class="toolbar" role="toolbar" aria-label="Act on selected comments">
    <label class="check"><input type="checkbox" id="select-all"> Select all</label>
    <span id="selected-count" aria-live="polite">0 selected</span>
    <label class="reason">Reason <input id="reason" maxlength="500"
      placeholder="optional, recorded with the decision"></label>
    <button type="button" id="bulk-approve" class="approve" disabled>Approve selected</button>
    <button type="button" id="bulk-reject" class="reject" disabled>Reject selected</button>
    <button type="button" id="help-button" class="quiet" aria-keyshortcuts="?">
      Shortcuts <kbd>?</kbd></button>
  </div>
  <p id="live-note" class="live-note" role="status" aria-live="polite"></p>
  <ol id="queue" class="queue" aria-label="Comments"></ol>
  <p id="empty" class="empty" hidden>Nothing here. New comments appear as they arrive.</p>
  <button type="button" id="more" class="quiet more" hidden>Load more</button>
</main>
<div id="toast" class="toast" role="status" aria-live="polite" hidden>
  <span id="toast-text"></span>
  <button type="button" id="undo" aria-keyshortcuts="u">Undo <kbd>u</kbd></button>
</div>
<dialog id="help" aria-labelledby="help-title">
  <h2 id="help-title">Keyboard shortcuts</h2>
  <dl class="keys">
    <dt><kbd>j</kbd> / <kbd>k</kbd></dt><dd>next / previous comment</dd>
    <dt><kbd>a</kbd></dt><dd>approve the current comment</dd>
    <dt><kbd>r</kbd></dt><dd>reject the current comment</dd>
    <dt><kbd>x</kbd></dt><dd>select or unselect the current comment</dd>
    <dt><kbd>A</kbd> / <kbd>R</kbd></dt><dd>approve / reject everything selected</dd>
    <dt><kbd>u</kbd></dt><dd>undo the last decision</dd>
    <dt><kbd>h</kbd></dt><dd>the current comment's history</dd>
    <dt><kbd>?</kbd></dt><dd>this list</dd>
  </dl>
  <form method="dialog"><button>Close</button></form>
</dialog>
<dialog id="history" aria-labelledby="history-title">
  <h2 id="history-title">History</h2>
  <ol id="history-list" class="history"></ol>
  <form method="dialog"><button>Close</button></form>
</dialog>
<template id="item-template">
  <li class="item" tabindex="-1">
    <div class="item-head">
      <input type="checkbox" class="select">
      <span class="author"></span>
      <span class="on">on</span> <a class="article" rel="noopener noreferrer"></a>
      <span class="article-title" hidden></span>
      <span class="site"></span>
      <span class="waited"></span>
      <span class="claim" hidden></span>
      <span class="status-badge"></span>
    </div>
    <blockquote class="parent" hidden><p class="parent-label"></p><p class="parent-body"></p>
    </blockquote>
    <p class="body"></p>
    <div class="why">
      <p class="rule"></p>
      <ul class="bars"></ul>
      <p class="meta"></p>
    </div>
    <div class="actions">
      <button type="button" class="approve act-approve">Approve <kbd>a</kbd></button>
      <button type="button" class="reject act-reject">Reject <kbd>r</kbd></button>
      <button type="button" class="quiet act-history">History <kbd>h</kbd></button>
    </div>
  </li>
</template>"""
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
    body = await _document("Queue", main, page="queue", data=data, csrf=csrf)
    return _html(request, body)


# --- a site's policy and webhooks ---------------------------------------------------------


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _policy_view(policy: Policy) -> str:
    rows = "".join(
        f"<tr><th scope='row'>{h(label.replace('_', ' '))}</th>"
        f"<td>{h(_number(t.hold_at) or '—')}</td><td>{h(_number(t.reject_at) or '—')}</td></tr>"
        for label, t in sorted(
            policy.thresholds.items(),
            key=lambda item: (
                DETOXIFY_LABELS.index(item[0]) if item[0] in DETOXIFY_LABELS else 99,
                item[0],
            ),
        )
    )
    terms = {
        "Blocked terms (rejected)": policy.blocked_terms,
        "Watched terms (held)": policy.watched_terms,
    }
    lists = "".join(
        f"<dt>{h(name)}</dt><dd>{h(', '.join(values) or 'none')}</dd>"
        for name, values in terms.items()
    )
    links = "no limit" if policy.max_links is None else str(policy.max_links)
    return f"""<dl class="policy">
  <dt>Mode</dt><dd>{h(policy.mode)}</dd>
  {lists}
  <dt>Links allowed</dt><dd>{h(links)}</dd>
</dl>
<table class="thresholds">
  <caption>Thresholds: a score at or above them holds or rejects a comment</caption>
  <thead><tr><th scope="col">label</th><th scope="col">hold at</th>
  <th scope="col">reject at</th></tr></thead>
  <tbody>{rows}</tbody>
</table>"""


def _policy_form(policy: Policy) -> str:
    rows = []
    for label in DETOXIFY_LABELS:
        limits = policy.thresholds.get(label)
        hold = _number(limits.hold_at) if limits else ""
        reject = _number(limits.reject_at) if limits else ""
        name = label.replace("_", " ")
        rows.append(
            f"""<tr><th scope="row">{h(name)}</th>
<td><input type="number" min="0" max="1" step="0.01" name="hold_at.{h(label)}"
  value="{h(hold)}" aria-label="{h(name)}: hold at"></td>
<td><input type="number" min="0" max="1" step="0.01" name="reject_at.{h(label)}"
  value="{h(reject)}" aria-label="{h(name)}: reject at"></td></tr>"""
        )
    modes = _options(
        [
            ("auto", "auto: by thresholds and terms"),
            ("pre", "pre: hold everything"),
            ("post", "post: publish unless rejected"),
        ],
        policy.mode,
    )
    max_links = "" if policy.max_links is None else str(policy.max_links)
    return f"""<form id="policy-form" class="policy-form">
  <label>Mode <select name="mode">{modes}</select></label>
  <table class="thresholds">
    <caption>Thresholds (empty: none)</caption>
    <thead><tr><th scope="col">label</th><th scope="col">hold at</th>
    <th scope="col">reject at</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table>
  <label>Blocked terms, one per line
    <textarea name="blocked_terms" rows="4">{h(chr(10).join(policy.blocked_terms))}</textarea>
  </label>
  <label>Watched terms, one per line
    <textarea name="watched_terms" rows="4">{h(chr(10).join(policy.watched_terms))}</textarea>
  </label>
  <label>Links allowed (empty: no limit)
    <input type="number" name="max_links" min="0" max="1000" value="{h(max_links)}"></label>
  <div class="preview-row">
    <label>Compare on the last <input type="number" name="last" min="1" max="2000"
      value="200"> decided comments</label>
    <button type="button" id="preview">Preview effect</button>
    <button type="submit" id="save" class="approve">Save policy</button>
  </div>
  <div id="policy-result" class="policy-result" role="status" aria-live="polite"></div>
</form>"""


def _webhooks_view(endpoints: list[Endpoint]) -> str:
    if not endpoints:
        return "<p>No webhook endpoints for this site.</p>"
    rows = []
    for e in endpoints:
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason or 'by an admin'})"
        failing = e.failing_since.isoformat(timespec="minutes") if e.failing_since else "—"
        rows.append(
            f"<tr><td class='url'>{h(e.url)}</td><td>{h(', '.join(e.events))}</td>"
            f"<td>{h('every site' if e.site_id is None else e.site_id)}</td>"
            f"<td>{h(state)}</td><td>{h(failing)}</td><td>{h(e.description)}</td></tr>"
        )
    return f"""<table class="webhooks">
  <thead><tr><th scope="col">URL</th><th scope="col">events</th><th scope="col">sites</th>
  <th scope="col">state</th><th scope="col">failing since</th>
  <th scope="col">description</th></tr></thead>
  <tbody>{"".join(rows)}</tbody>
</table>"""


@routes.get("/moderate/sites/{site}")
async def site_page(request: web.Request) -> web.Response:
    session, csrf = await _require_session(request)
    principal = session.user.principal()
    site_id = request.match_info["site"]
    if not SLUG.match(site_id) or not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    site = await request.app[keys.SITES].get(site_id)
    admin = principal.role == "admin"
    if admin:
        endpoints = await request.app[keys.WEBHOOKS].visible_to(principal, site_id)
        webhooks = _webhooks_view(endpoints)
        editor = "<section aria-labelledby='edit-title'><h2 id='edit-title'>Edit the policy</h2>"
        editor += f"{_policy_form(site.policy)}</section>"
    else:
        webhooks = "<p>Webhook endpoints are shown to admins.</p>"
        editor = ""
    origins = ", ".join(site.allowed_origins) or "none (same origin only)"
    main = f"""{_header(session, csrf, site_link=site_id)}
<main class="site-page">
  <h1>{h(site.name)} <span class="site-id">({h(site.id)})</span></h1>
  <p>Allowed origins for the widget: {h(origins)}. Policy version {h(site.policy.version)},
  updated {h(site.updated_at.isoformat(timespec="minutes"))}.</p>
  <section aria-labelledby="policy-title">
    <h2 id="policy-title">Policy</h2>
    {_policy_view(site.policy)}
  </section>
  {editor}
  <section aria-labelledby="webhooks-title">
    <h2 id="webhooks-title">Webhooks</h2>
    {webhooks}
  </section>
</main>"""
    data = {"user": session.user.name, "role": session.user.role, "site": site.id}
    body = await _document(f"{site.name}: policy", main, page="site", data=data, csrf=csrf)
    return _html(request, body)


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
        missing = ""
    except NotFound:
        missing = f"""<aside class="note" role="note"><p>There is no site
  <code>{h(site_id)}</code> yet, so the comments below cannot load. Create it with an admin
  token (<code>replyguard create-token --role admin</code>):</p>
  <pre>curl -X PUT {h(request.url.origin())}/v1/sites/{h(site_id)} \\
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
  -d '{{"name": "Demo", "policy": {{"watched_terms": ["scam"]}}}}'</pre></aside>"""
    main = f"""<main class="demo">
  <article>
    <p class="kicker">The Daily Example · City</p>
    <h1>Council approves twelve kilometres of protected cycle lanes</h1>
    <p class="byline">By A. Reporter</p>
    <p>The city council voted 31 to 14 on Tuesday to build protected cycle lanes along the
    river road and the old tram line, the largest change to the city's streets in a decade.
    Work starts in the spring; the first section should open before the summer holidays.</p>
    <p>Shop owners on the tram line asked for loading bays to stay; the plan keeps one on
    every block. Residents' groups were split, and the debate ran past midnight.</p>
    <p>This page shows replyguard's comment widget, included with one script tag. Comments
    you post here are scored and decided like any other; moderators see the held ones at
    <a href="/moderate">/moderate</a>.</p>
  </article>
  {missing}
  <section class="comments" aria-label="Comments">
    <script src="/embed.js" data-site="{h(site_id)}" data-article="{h(article_id)}"
      data-title="Council approves twelve kilometres of protected cycle lanes" async></script>
  </section>
</main>"""
    body = await _document("Demo article", main, page="demo", script=False)
    return _html(request, body)
