"""Session cookies and CSRF for the moderator's page, and the middleware that lets the
page drive the JSON API with its cookie.

A request under ``/v1/`` that carries the session cookie and no ``Authorization`` header:

- a read (GET, HEAD, OPTIONS) needs only the cookie: it changes nothing, and other sites
  cannot read its answer (the cookie is SameSite=Lax and no CORS answer allows
  credentials), so the API sees the signed-in person; an ended session passes on
  unauthenticated, as if there were no cookie;
- a change needs the page's ``X-CSRF-Token`` as well: with it the session is checked (401
  when it has ended, 403 when the token is wrong) and the API sees the signed-in person
  (``service.accounts.auth``); without it the change is refused with 403, except the public
  endpoints a reader uses (a moderator may comment on ``/demo`` like anyone).

The cookie is HttpOnly and SameSite=Lax, Secure over https. HTML forms carry the same
token in a hidden field; the sign-in form, before any session exists, uses a
double-submit cookie instead.
"""

from __future__ import annotations

import secrets
from typing import Final

from aiohttp import web

from service.accounts.auth import acting_as, csrf_token, done_acting
from service.errors import Forbidden, Unauthenticated
from service.store.review import LiveSession
from service.web import keys
from service.web.problems import Handler

SESSION_COOKIE: Final = "rg_session"
SIGN_IN_COOKIE: Final = "rg_sign_in"
CSRF_HEADER: Final = "X-CSRF-Token"
#: The page's background poll sends this, so that it does not count as the person's use.
BACKGROUND_HEADER: Final = "X-Replyguard-Background"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: Writes a reader makes; a cookie does not stop them, and does not take part in them.
PUBLIC_WRITES: Final = frozenset(
    {"/v1/sites/{site}/articles/{article}/comments", "/v1/comments/{comment}/reports"}
)

SESSION: Final = web.RequestKey("session", LiveSession)


def secure_cookies(request: web.Request) -> bool:
    """Secure when the page is served over https (directly or behind a TLS proxy)."""
    mode = request.app[keys.SETTINGS].cookie_secure
    if mode != "auto":
        return mode == "always"
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_session_cookie(request: web.Request, response: web.StreamResponse, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(request.app[keys.SETTINGS].session_max),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request),
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=secure_cookies(request)
    )


def sign_in_token(request: web.Request) -> tuple[str, bool]:
    """The sign-in form's CSRF token: the browser's cookie, or a new one (True: set it)."""
    token = request.cookies.get(SIGN_IN_COOKIE)
    if token and len(token) <= 100:
        return token, False
    return secrets.token_urlsafe(24), True


def set_sign_in_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        path="/moderate",
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
    )


def sign_in_token_ok(request: web.Request, submitted: str) -> bool:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    return bool(expected) and secrets.compare_digest(submitted.encode(), expected.encode())


def form_token_ok(request: web.Request, submitted: str) -> bool:
    """A form's hidden CSRF field against the session cookie's token."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return False
    return secrets.compare_digest(submitted.encode(), csrf_token(secret).encode())


async def page_session(request: web.Request) -> LiveSession | None:
    """The signed-in person behind an HTML page's request, or None. A page view counts
    as use of the session."""
    if SESSION in request:
        return request[SESSION]
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or len(secret) > 100:
        return None
    session = await request.app[keys.AUTH].resolve(secret, touch=True)
    if session is not None:
        request[SESSION] = session
    return session


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    secret = request.cookies.get(SESSION_COOKIE)
    if (
        not secret
        or len(secret) > 100
        or not request.path.startswith("/v1/")
        or "Authorization" in request.headers
    ):
        return await handler(request)
    submitted = request.headers.get(CSRF_HEADER)
    read = request.method in SAFE_METHODS
    if submitted is None and not read:
        if _route(request) in PUBLIC_WRITES:
            return await handler(request)
        raise Forbidden(
            f"A signed-in page must send its CSRF token ({CSRF_HEADER}) with every change."
        )
    background = request.headers.get(BACKGROUND_HEADER) == "1"
    session = await request.app[keys.AUTH].resolve(secret, touch=not background)
    if session is None:
        if submitted is None:
            return await handler(request)
        raise Unauthenticated("Your session has ended; sign in again.")
    if submitted is not None and not secrets.compare_digest(
        submitted.encode(), csrf_token(secret).encode()
    ):
        raise Forbidden("The CSRF token does not match this session; reload the page.")
    request[SESSION] = session
    headers = request.headers.copy()
    headers["Authorization"] = f"Bearer {request.app[keys.AUTH].bridge_token}"
    acting = acting_as(session.user.principal())
    try:
        return await handler(request.clone(headers=headers))
    finally:
        done_acting(acting)
