"""The one place errors become HTTP answers: ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from service import errors
from service.store.db import is_unavailable
from service.web.ratelimit import retry_after_header

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS: list[tuple[type[errors.ReplyguardError], int, str]] = [
    (errors.BadRequest, 400, "Bad request"),
    (errors.InvalidInput, 422, "Invalid input"),
    (errors.Unauthenticated, 401, "Authentication required"),
    (errors.Forbidden, 403, "Forbidden"),
    (errors.NotFound, 404, "Not found"),
    (errors.Conflict, 409, "Conflict"),
    (errors.RequestTimeout, 408, "Request timeout"),
    (errors.PayloadTooLarge, 413, "Payload too large"),
    (errors.UnsupportedMediaType, 415, "Unsupported media type"),
    (errors.RateLimited, 429, "Too many requests"),
    (errors.Unavailable, 503, "Service unavailable"),
]


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if fields:
        body["errors"] = fields
    response = web.json_response(
        body, status=status, content_type="application/problem+json", headers=headers
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _status(error: errors.ReplyguardError) -> tuple[int, str]:
    for kind, status, title in _STATUS:
        if isinstance(error, kind):
            return status, title
    return 500, "Internal error"


def from_error(error: errors.ReplyguardError) -> web.Response:
    status, title = _status(error)
    fields = None
    if isinstance(error, errors.InvalidInput):
        fields = [{"field": e.field, "problem": e.problem} for e in error.errors]
    headers = None
    if isinstance(error, errors.Unavailable | errors.RateLimited):
        headers = {"Retry-After": retry_after_header(error.retry_after)}
    if isinstance(error, errors.Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="replyguard"'}
    detail = error.detail if isinstance(error, errors.InvalidInput) else str(error)
    return problem(status, title, detail, fields=fields, headers=headers)


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send the answer, then close the connection: the rest of a stalled body may never
    come, and aiohttp would otherwise linger for it (10 s) with the connection open."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()  # after what is buffered, the answer, has been sent
    return response


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.RequestTimeout as error:
        return await _answer_and_close(request, from_error(error))
    except errors.ReplyguardError as error:
        return from_error(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem(
            error.status,
            error.reason,
            error.text or error.reason,
            headers={k: v for k, v in error.headers.items() if k == "Allow"},
        )
    except Exception as error:
        if is_unavailable(error):
            log.warning("%s %s: database unavailable: %s", request.method, request.path, error)
            return problem(
                503,
                "Service unavailable",
                "The database cannot be reached right now; nothing was saved. Retry shortly.",
                headers={"Retry-After": "5"},
            )
        log.exception("%s %s failed", request.method, request.path)
        return problem(500, "Internal error", "Something went wrong on our side; it is logged.")
