"""Every error replyguard raises on purpose, and the HTTP status each one maps to.

    ReplyguardError                      (moderation.errors)
    ├── InvalidInput          422        a field breaks the contract; lists every field
    │   ├── InvalidPolicy     422        (moderation.errors)
    │   └── BadRequest        400        the body is not JSON, or not an object
    ├── Unauthenticated       401        no bearer token, or one we do not know
    ├── Forbidden             403        a known token without the role for this
    ├── NotFound              404        no such thing, or not one the caller may know of
    ├── Conflict              409        the state forbids it right now
    ├── RequestTimeout        408        the body did not arrive in time; the connection closes
    ├── PayloadTooLarge       413
    ├── RateLimited           429        too many submissions; retry after a while
    ├── ModelUnavailableError            the configured model is not on this machine
    ├── PrecisionUnavailableError        the precision asked for is not offered here
    │                                    (both in moderation.detox; a worker exits with 78)
    ├── TooFewDecisions                  a site's decisions cannot make a candidate model
    │                                    (moderation.site_training; the CLI says so)
    ├── SchemaTooNewError                a newer release migrated the database; every
    │                                    command refuses to run and exits with 78
    ├── UnsupportedMediaType  415
    └── Unavailable           503        the database cannot be reached; retry later

The web layer turns each into ``application/problem+json`` in one middleware
(``service.web.problems``); nothing else builds error responses.
"""

from __future__ import annotations

from moderation.errors import FieldError, InvalidInput, InvalidPolicy, ReplyguardError

__all__ = [
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "InvalidPolicy",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ReplyguardError",
    "RequestTimeout",
    "SchemaTooNewError",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
]


class BadRequest(InvalidInput):
    """The request body cannot be read as a JSON object."""


class Unauthenticated(ReplyguardError):
    """No credentials, or credentials that match nothing."""


class Forbidden(ReplyguardError):
    """Valid credentials that do not grant this action."""


class NotFound(ReplyguardError):
    """Nothing there, or nothing the caller may learn exists."""


class Conflict(ReplyguardError):
    """The resource's current state does not allow the request."""


class RequestTimeout(ReplyguardError):
    """The request's body did not arrive within the body timeout (a stalled client)."""


class PayloadTooLarge(ReplyguardError):
    """The request is larger than the configured limit."""


class UnsupportedMediaType(ReplyguardError):
    """The request is not ``application/json``."""


class Unavailable(ReplyguardError):
    """A dependency (PostgreSQL) cannot be reached; the client should retry."""

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RateLimited(ReplyguardError):
    """Too many requests from one client, author or site; ``retry_after`` in seconds."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class SchemaTooNewError(ReplyguardError):
    """The database holds migrations this release does not know: a newer one migrated it.

    Running older code against a newer schema could write what the newer one no longer
    reads, so every command refuses; the message names both versions and what to do.
    """
