"""The OpenAPI 3.1 description of every endpoint, served at ``/v1/openapi.json``.

Written by hand next to the handlers, but every pattern and limit in it is the object the
handlers check input with: service.web.validation's patterns and limits, moderation.policy's,
service.times', and, for the limits an operator sets (REPLYGUARD_MAX_BODY_CHARS...), the
app's own Settings. ``build_spec(settings)`` runs once per app (``create_app``); ``SPEC`` is
the document for the default settings. A test checks that every route the app serves is
described here, and nothing more; another that a changed limit shows here and is enforced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web

from moderation.domain import DETOXIFY_LABELS, STATUSES
from moderation.model_specs import MAX_SPEC_CHARS
from moderation.policy import (
    COUNTS,
    LANGUAGE_RULES,
    MAX_TERM_CHARS,
    MAX_TERMS,
    MODES,
    THREAT_RULES,
)
from service.accounts.auth import USER_NAME
from service.settings import Settings, env_name
from service.store.webhooks import DELIVERY_STATES, SUBSCRIBABLE_EVENTS
from service.times import EARLIEST_TIME, LATEST_TIME, MAX_TIME_CHARS
from service.web import keys
from service.web.sessions import CSRF_HEADER, SESSION_COOKIE
from service.web.validation import (
    ACTIONS,
    ARTICLE_ID,
    ARTICLE_ID_RULE,
    AUTHOR_COMMENTS_PAGE,
    AUTHOR_ID,
    CALIBRATION_DEFAULT,
    CALIBRATION_MAX,
    CONTROL_CHARS,
    DELIVERIES_PAGE,
    EMAIL,
    IDEMPOTENCY_KEY,
    MAX_BULK_IDS,
    MAX_DESCRIPTION_CHARS,
    MAX_EMAIL_CHARS,
    MAX_ORIGINS,
    MAX_REASON_CHARS,
    MAX_SITE_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    PREVIEW_MAX,
    PROMOTIONS_PAGE,
    QUEUE_ORDERS,
    QUEUE_PAGE,
    ROW_ID,
    ROW_ID_DIGITS,
    SLUG,
    SLUG_RULE,
    STAFF_AUDIT_PAGE,
    THREAD_PAGE,
    WHITESPACE,
    PageSize,
    schema_pattern,
)

Schema = dict[str, Any]
Security = list[dict[str, list[str]]]

# --- shapes -----------------------------------------------------------------------------

_STRING: Final = {"type": "string"}
_STRING_OR_NULL: Final = {"type": ["string", "null"]}
_INTEGER: Final = {"type": "integer"}
_BOOLEAN: Final = {"type": "boolean"}
_OBJECT: Final = {"type": "object"}
_UUID: Final = {"type": "string", "format": "uuid"}
_WHEN: Final = {"type": "string", "format": "date-time"}
_WHEN_OR_NULL: Final = {"type": ["string", "null"], "format": "date-time"}

_BEARER: Final[Security] = [{"bearer": []}]
_SESSION_OR_BEARER: Final[Security] = [{"bearer": []}, {"session": []}]
_AUTHOR_OR_BEARER: Final[Security] = [{"bearer": []}, {"authorToken": []}]

# What Fields.text accepts: no control character but tab and line breaks, and (a required
# text) a character that is not white space.
_NO_CONTROL: Final = f"^[^{CONTROL_CHARS}]*$"
_SOME_TEXT: Final = f"^[^{CONTROL_CHARS}]*[^{WHITESPACE}{CONTROL_CHARS}][^{CONTROL_CHARS}]*$"
# An http(s) URL up to its host and port, a plain ASCII host (IDNs go as punycode): a
# pattern can only approximate is_http_url and is_origin, which read the URL as urlsplit does.
_HTTP_SCHEME: Final = "[Hh][Tt][Tt][Pp][Ss]?://"
_HTTP: Final = f"{_HTTP_SCHEME}[A-Za-z0-9._~%!$&'()*+,;=-][A-Za-z0-9._~%!$&'()*+,;=:-]*"
_TIME_RANGE: Final = (
    f"With a UTC offset; from {EARLIEST_TIME.date()} to {LATEST_TIME.date()} in UTC."
)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ok(schema: Schema = _OBJECT, *, status: int = 200, description: str = "OK") -> Schema:
    """A success response with a JSON body, keyed by its status."""
    return {str(status): _json(schema, description)}


def _status(status: int, description: str) -> Schema:
    """A success response with no body."""
    return {str(status): {"description": description}}


def _errors(*codes: int) -> Schema:
    return {str(code): {"$ref": "#/components/responses/Problem"} for code in codes}


def _op(
    summary: str,
    responses: Schema,
    errors: Sequence[int] = (),
    *,
    security: Security | None = None,
    body: Schema | None = None,
    form: Sequence[str] = (),
    parameters: Sequence[Schema] = (),
) -> Schema:
    """An operation: ``responses`` its successes, ``errors`` the problem+json statuses,
    ``body`` the schema of a required JSON request body, ``form`` the fields of a required
    HTML form."""
    operation: Schema = {"summary": summary}
    if security is not None:
        operation["security"] = security
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = _request_body("application/json", body)
    if form:
        properties = dict.fromkeys(form, _STRING)
        schema = {"type": "object", "required": list(form), "properties": properties}
        operation["requestBody"] = _request_body("application/x-www-form-urlencoded", schema)
    operation["responses"] = {**responses, **_errors(*errors)}
    return operation


def _request_body(media_type: str, schema: Schema) -> Schema:
    return {"required": True, "content": {media_type: {"schema": schema}}}


def _path(name: str, schema: Schema, description: str | None = None) -> Schema:
    parameter = {"name": name, "in": "path", "required": True, "schema": schema}
    if description is not None:
        parameter["description"] = description
    return parameter


def _query(name: str, schema: Schema = _STRING) -> Schema:
    # Every handler reads an empty query value (``?site=``, as HTML forms send) as one left
    # out; no query parameter is required.
    return {"name": name, "in": "query", "schema": schema, "allowEmptyValue": True}


def _limit(page: PageSize) -> Schema:
    schema = {"type": "integer", "minimum": 1, "maximum": page.most, "default": page.default}
    return _query("limit", schema)


def _page(item: Schema) -> Schema:
    """A listing's answer: a page of ``item`` and the cursor of the next one."""
    properties = {"items": {"type": "array", "items": item}, "next_cursor": _STRING_OR_NULL}
    return {"type": "object", "properties": properties}


def _matching(regex: re.Pattern[str], description: str | None = None) -> Schema:
    """A string that one of service.web.validation's ``whole`` patterns matches."""
    schema = {"type": "string", "pattern": schema_pattern(regex)}
    if description is not None:
        schema["description"] = description
    return schema


def _text(max_length: int, *, required: bool = False) -> Schema:
    """A text field; an optional one may also be null (the same as leaving it out)."""
    if required:
        return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _SOME_TEXT}
    return {"type": ["string", "null"], "maxLength": max_length, "pattern": _NO_CONTROL}


def _time(*, nullable: bool) -> Schema:
    """A time service.times.parse_time reads."""
    return {
        "type": ["string", "null"] if nullable else "string",
        "format": "date-time",
        "maxLength": MAX_TIME_CHARS,
        "description": _TIME_RANGE,
    }


def _ids() -> Schema:
    return {"type": "array", "items": _UUID, "minItems": 1, "maxItems": MAX_BULK_IDS}


def _input(properties: Schema, *, required: Sequence[str] = (), **more: Any) -> Schema:
    """A request body: an object of ``properties`` and nothing else (``Fields.only``)."""
    schema: Schema = {"type": "object"}
    if required:
        schema["required"] = list(required)
    return {**schema, "properties": properties, **more, "additionalProperties": False}


def _setting(settings: Settings, name: str) -> str:
    """A setting as the document names it: its variable and the value in use."""
    return f"{env_name(name)} ({getattr(settings, name)})"


_SITE_PARAM: Final = _path("site", _matching(SLUG), SLUG_RULE)
_ARTICLE_PARAM: Final = _path("article", _matching(ARTICLE_ID), ARTICLE_ID_RULE)
_COMMENT_PARAM: Final = _path("comment", _UUID)
_ROW_ID_SCHEMA: Final = {"type": "integer", "minimum": 0, "maximum": 10**ROW_ID_DIGITS - 1}
_CURSOR: Final = _query("cursor")
_PREFLIGHT: Final = "CORS preflight."
_AUTHOR_TOKEN_HEADER: Final = {
    "name": "X-Author-Token",
    "in": "header",
    "description": "An HS256 JWT from the site's sign-in, signed with its SSO secret: sub and "
    "exp required; name, email, iat, nbf optional; aud, if present, the site id. With a "
    "valid token author_name may be left out (the token's name is used) and the comment is "
    "verified; an invalid, expired or other site's token is 401.",
    "schema": {"type": "string", "maxLength": 4096},
}


# --- schemas ------------------------------------------------------------------------------

_PROBABILITY: Final = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
# Whole words or phrases, matched case-insensitively; each needs a character that is not
# white space (NUL is refused in every request: PostgreSQL cannot store it).
_TERMS: Final = {
    "type": "array",
    "maxItems": MAX_TERMS,
    "items": {
        "type": "string",
        "maxLength": MAX_TERM_CHARS,
        "pattern": f"^[^\\u0000]*[^{WHITESPACE}\\u0000][^\\u0000]*$",
    },
}
_POLICY_OR_NULL: Final = {"oneOf": [_ref("Policy"), {"type": "null"}]}
_THRESHOLDS_OR_NULL: Final = {
    "type": ["object", "null"],
    "properties": {"hold_at": _PROBABILITY, "reject_at": _PROBABILITY},
}


def _counts() -> Schema:
    """moderation.policy's whole-number fields, from its own table of limits."""
    counts: Schema = {}
    for name, (low, high, nullable) in COUNTS.items():
        kind = ["integer", "null"] if nullable else "integer"
        counts[name] = {"type": kind, "minimum": low, "maximum": high}
    return counts


def _new_comment(settings: Settings) -> Schema:
    """What post_comment accepts, with the app's own limits."""
    body_limits = (
        f"at most {_setting(settings, 'max_body_chars')} characters and "
        f"{_setting(settings, 'max_body_bytes')} bytes of UTF-8"
    )
    return _input(
        {
            "body": {
                **_text(settings.max_body_chars, required=True),
                "description": body_limits,
            },
            "author_name": {
                **_text(settings.max_name_chars, required=True),
                "description": f"at most {_setting(settings, 'max_name_chars')} characters",
            },
            "author_email": {
                "type": ["string", "null"],
                "maxLength": MAX_EMAIL_CHARS,
                "pattern": schema_pattern(EMAIL),
            },
            "parent_id": {
                "type": ["string", "null"],
                "format": "uuid",
                "description": "a comment of the same article",
            },
            "article_url": {
                "type": ["string", "null"],
                "maxLength": MAX_URL_CHARS,
                "pattern": f"^{_HTTP}([/?#][^\\s\\u0000-\\u001f\\u007f]*)?$",
                "description": "kept only when on one of the site's allowed_origins (else "
                "ignored); moderators and webhooks see it as the article's link",
            },
            "article_title": {
                **_text(MAX_TITLE_CHARS),
                "description": "kept from the first comment that gives one; shown to "
                "moderators as plain text, marked as given by a reader",
            },
        },
        required=("body", "author_name"),
    )


SCHEMAS: Final[dict[str, Schema]] = {
    "Policy": _input(
        {
            "mode": {"enum": list(MODES)},
            "thresholds": {
                "type": "object",
                "propertyNames": {"enum": list(DETOXIFY_LABELS)},
                "additionalProperties": _input(
                    {"hold_at": _PROBABILITY, "reject_at": _PROBABILITY}
                ),
            },
            "blocked_terms": _TERMS,
            "watched_terms": _TERMS,
            "unsupported_language": {"enum": list(LANGUAGE_RULES)},
            "threat_patterns": {"enum": list(THREAT_RULES)},
            **_counts(),
        }
    ),
    "SitePut": _input(
        {
            "name": _text(MAX_SITE_NAME_CHARS, required=True),
            "allowed_origins": {
                "type": ["array", "null"],
                "maxItems": MAX_ORIGINS,
                "items": {"type": "string", "pattern": f"^{_HTTP}/?$"},
            },
            "policy": {**_POLICY_OR_NULL, "description": "left out or null: the default policy"},
            "reason": {
                **_text(MAX_REASON_CHARS),
                "description": "why, for the policy audit (kept only when the policy changes)",
            },
        },
        required=("name",),
    ),
    "Site": {
        "type": "object",
        "properties": {
            "id": _STRING,
            "name": _STRING,
            "allowed_origins": {"type": "array", "items": _STRING},
            "policy": _ref("Policy"),
            "policy_version": _INTEGER,
            "sso": {
                "type": "object",
                "description": "whether the site signs its authors in; the secret is never "
                "shown here (POST /v1/sites/{site}/sso-secret shows a new one once)",
                "properties": {"enabled": _BOOLEAN, "rotated_at": _WHEN_OR_NULL},
            },
        },
    },
    "Calibration": {
        "type": "object",
        "description": "Decisions: comments the model held that a moderator then approved or "
        "rejected (the last word counts, and only while it stands), scored by the model of "
        "the most recent one (other_models: those left out). rules: what a suggestion needs.",
        "properties": {
            "site_id": _STRING,
            "policy_version": _INTEGER,
            "model": {
                "type": ["object", "null"],
                "properties": {"name": _STRING, "version": _STRING},
            },
            "decisions": _INTEGER,
            "other_models": _INTEGER,
            "rules": _OBJECT,
            "labels": {
                "type": "object",
                "propertyNames": {"enum": list(DETOXIFY_LABELS)},
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "decisions": _INTEGER,
                        "rejected": _INTEGER,
                        "roc_auc": {"type": ["number", "null"]},
                        "current": _THRESHOLDS_OR_NULL,
                        "suggested": {
                            **_THRESHOLDS_OR_NULL,
                            "description": "null below rules.min_decisions; either "
                            "threshold null when no cut qualifies (note says why)",
                        },
                        "note": _STRING_OR_NULL,
                        "curve": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "threshold": {"type": "number"},
                                    "precision": {"type": "number"},
                                    "recall": {"type": "number"},
                                    "count": _INTEGER,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "status", "author_token"],
        "properties": {
            "id": _UUID,
            "status": {"const": "pending"},
            "author_token": _STRING,
            "created_at": _WHEN,
        },
    },
    "ThreadItem": {
        "type": "object",
        "description": "An approved comment, or (removed: true) a rejected one kept in place, "
        "without name or words, for the approved replies below it. Replies below a pending "
        "or held comment wait until it is decided.",
        "properties": {
            "id": _UUID,
            "parent_id": _STRING_OR_NULL,
            "removed": _BOOLEAN,
            "author_name": _STRING_OR_NULL,
            "body": _STRING_OR_NULL,
            "created_at": _WHEN,
            "replies": {"type": "array", "items": _ref("ThreadItem")},
        },
    },
    "AuthorsComment": {
        "type": "object",
        "description": "A comment as its author sees it (with the author_token).",
        "required": ["id", "status", "visible", "waiting_for"],
        "properties": {
            "id": _UUID,
            "status": {"enum": list(STATUSES)},
            "visible": {**_BOOLEAN, "description": "readers see it in the thread now"},
            "waiting_for": {
                "enum": ["moderation", "parent", None],
                "description": "moderation: it is pending or held; parent: it is approved, "
                "and shown once the comment it replies to (or one above that) is decided",
            },
            "body": _STRING,
            "author_name": _STRING,
            "parent_id": _STRING_OR_NULL,
        },
    },
    "Comment": {
        "type": "object",
        "required": ["id", "status", "body", "scores", "explanation"],
        "properties": {
            "id": _UUID,
            "site_id": _STRING,
            "status": {"enum": list(STATUSES)},
            "body": _STRING,
            "author_name": _STRING,
            "author": _ref("CommentAuthor"),
            "parent": {"type": ["object", "null"]},
            "scores": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
            "explanation": {"type": ["object", "null"]},
            "shadow_scores": {
                "type": "object",
                "description": "GET /v1/comments/{comment} only: each shadow model's scores, "
                "by name@version; they decide nothing",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {"type": "number"},
                },
            },
        },
    },
    "Decision": _input(
        {"action": {"enum": list(ACTIONS)}, "reason": _text(MAX_REASON_CHARS)},
        required=("action",),
    ),
    "BulkDecision": _input(
        {"ids": _ids(), "action": {"enum": list(ACTIONS)}, "reason": _text(MAX_REASON_CHARS)},
        required=("ids", "action"),
    ),
    "ArticlePolicy": _input({"policy_override": _POLICY_OR_NULL, "until": _time(nullable=True)}),
    "Problem": {
        "type": "object",
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": _INTEGER,
            "detail": _STRING,
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": _STRING, "problem": _STRING},
                },
            },
        },
    },
}


# --- public and moderators (service.web.api.public) ---------------------------------------

_PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/articles/{article}/comments": {
        "parameters": [_SITE_PARAM, _ARTICLE_PARAM],
        "post": _op(
            "Submit a comment or reply; answered at once, scored later.",
            _ok(_ref("Accepted"), status=202, description="Accepted and queued for scoring"),
            (400, 401, 404, 409, 413, 415, 422, 429, 503),
            body=_ref("NewComment"),
            parameters=[
                {"name": "Idempotency-Key", "in": "header", "schema": _matching(IDEMPOTENCY_KEY)},
                _AUTHOR_TOKEN_HEADER,
            ],
        ),
        "get": _op(
            "The approved thread, replies nested, a page of top-level comments.",
            _ok(_page(_ref("ThreadItem"))),
            (404, 422, 503),
            parameters=[_CURSOR, _limit(THREAD_PAGE)],
        ),
        "options": _op(_PREFLIGHT, _status(204, "OK"), (404, 422)),
    },
    "/v1/comments/{comment}": {
        "parameters": [_COMMENT_PARAM],
        "get": _op(
            "A comment: its status for its author (author_token), all of it "
            "for a moderator of its site.",
            _ok({"oneOf": [_ref("Comment"), _ref("AuthorsComment")]}),
            (401, 404, 503),
            security=_AUTHOR_OR_BEARER,
        ),
        "options": _op(_PREFLIGHT, _status(204, "OK"), (404,)),
    },
    "/v1/comments/{comment}/reports": {
        "parameters": [_COMMENT_PARAM],
        "post": _op(
            "A reader reports a published comment (once per reader's network: "
            "IPv4 /24, IPv6 /64); past the site's report_threshold it goes back to the "
            "moderators' queue. Too many reports from one network: 429 with Retry-After.",
            _ok(status=202, description="Recorded (or already recorded)"),
            (400, 404, 413, 415, 422, 429, 503),
            body=_input({"reason": _text(MAX_REASON_CHARS)}),
        ),
        "options": _op(_PREFLIGHT, _status(204, "OK"), (404,)),
    },
    "/v1/comments/{comment}/decision": {
        "parameters": [_COMMENT_PARAM],
        "post": _op(
            "Approve or reject one comment.",
            _ok(),
            (400, 401, 404, 415, 422),
            security=_BEARER,
            body=_ref("Decision"),
        ),
    },
    "/v1/decisions": {
        "post": _op(
            "Approve or reject many comments at once.",
            _ok(),
            (400, 401, 415, 422),
            security=_BEARER,
            body=_ref("BulkDecision"),
        ),
    },
    "/v1/comments/{comment}/audit": {
        "parameters": [_COMMENT_PARAM],
        "get": _op(
            "A comment's history: every status change, who, why, when.",
            _ok(_page(_OBJECT)),
            (401, 404),
            security=_BEARER,
        ),
    },
    "/v1/queue": {
        "get": _op(
            "The moderators' queue, keyset-paginated.",
            _ok(_page(_ref("Comment"))),
            (401, 404, 422),
            security=_BEARER,
            parameters=[
                _query("site", _matching(SLUG)),
                _query("article", _matching(ARTICLE_ID)),
                _query("status", {"enum": list(STATUSES)}),
                _query("order", {"enum": list(QUEUE_ORDERS)}),
                _query("label", {"enum": list(DETOXIFY_LABELS)}),
                _CURSOR,
                _limit(QUEUE_PAGE),
            ],
        ),
    },
    "/v1/sites/{site}": {
        "parameters": [_SITE_PARAM],
        "put": _op(
            "Create or update a site, its allowed origins and its policy (admin).",
            {**_ok(_ref("Site")), **_ok(_ref("Site"), status=201, description="Created")},
            (400, 401, 403, 415, 422),
            security=_BEARER,
            body=_ref("SitePut"),
        ),
        "get": _op("A site and its policy.", _ok(_ref("Site")), (401, 404), security=_BEARER),
    },
    "/v1/sites/{site}/articles/{article}/policy": {
        "parameters": [_SITE_PARAM, _ARTICLE_PARAM],
        "put": _op(
            "Override the site's policy for one article, optionally until a time.",
            _ok(),
            (400, 401, 403, 404, 415, 422),
            security=_BEARER,
            body=_ref("ArticlePolicy"),
        ),
    },
    "/healthz": {"get": _op("The process is up.", _ok())},
    "/v1/openapi.json": {"get": _op("This document.", _ok())},
}


# --- webhooks (service.web.api.webhooks) -------------------------------------------------------

_WEBHOOK_PARAM: Final = _path("webhook", _UUID)
_DELIVERY_PARAM: Final = _path("delivery", _ROW_ID_SCHEMA)
_EVENTS: Final = {"type": "array", "minItems": 1, "items": {"enum": list(SUBSCRIBABLE_EVENTS)}}
_WEBHOOK_URL: Final = {
    "type": "string",
    "format": "uri",
    "pattern": f"^{_HTTP_SCHEME}",
    "maxLength": MAX_URL_CHARS,
}
_WEBHOOK_SCHEMAS: Final[dict[str, Schema]] = {
    "WebhookNew": _input(
        {
            "url": {
                **_WEBHOOK_URL,
                "description": "http or https; private, loopback and link-local "
                "addresses are refused unless allowed by "
                f"{env_name('webhook_allowed_networks')}",
            },
            "events": _EVENTS,
            "site": _matching(SLUG, "omit for every site (all-sites admins)"),
            "description": _text(MAX_DESCRIPTION_CHARS),
        },
        required=("url", "events"),
    ),
    "WebhookPatch": _input(
        {
            "url": _WEBHOOK_URL,
            "events": _EVENTS,
            "description": _text(MAX_DESCRIPTION_CHARS),
            "enabled": _BOOLEAN,
            "rotate_secret": {
                **_BOOLEAN,
                "description": "a new secret signs from now on; the old one signs beside it "
                f"for {env_name('webhook_secret_overlap')} seconds",
            },
        },
        minProperties=1,
    ),
    "Webhook": {
        "type": "object",
        "required": ["id", "url", "events", "enabled"],
        "properties": {
            "id": _UUID,
            "url": _STRING,
            "site_id": _STRING_OR_NULL,
            "events": {"type": "array", "items": _STRING},
            "description": _STRING,
            "enabled": _BOOLEAN,
            "disabled": {
                "type": ["object", "null"],
                "description": "why, when and by whom ('system': 410 Gone, or days of "
                "continuous failure)",
            },
            "failing_since": _WHEN_OR_NULL,
            "previous_secret_valid_until": _WHEN_OR_NULL,
            "secret": {
                **_STRING,
                "description": "whsec_...: only in the answer that created or rotated it",
            },
        },
    },
    "WebhookDelivery": {
        "type": "object",
        "properties": {
            "id": _INTEGER,
            "webhook_id": {**_STRING, "description": "the webhook-id header"},
            "event_type": _STRING,
            "status": {"enum": list(DELIVERY_STATES)},
            "attempts": _INTEGER,
            "max_attempts": _INTEGER,
            "next_attempt_at": _WHEN_OR_NULL,
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": _STRING_OR_NULL,
            "response_excerpt": _STRING_OR_NULL,
            "timings": _OBJECT,
        },
    },
}
_WEBHOOK_PATHS: Final[dict[str, Schema]] = {
    "/v1/webhooks": {
        "post": _op(
            "Register a webhook endpoint (admin); the answer shows its secret once.",
            _ok(_ref("Webhook"), status=201, description="Created"),
            (400, 401, 403, 415, 422),
            security=_BEARER,
            body=_ref("WebhookNew"),
        ),
        "get": _op(
            "The webhook endpoints this admin may see.",
            _ok(_page(_ref("Webhook"))),
            (401, 403, 422),
            security=_BEARER,
            parameters=[_query("site", _matching(SLUG))],
        ),
    },
    "/v1/webhooks/{webhook}": {
        "parameters": [_WEBHOOK_PARAM],
        "get": _op(
            "One webhook endpoint, with why it is disabled if it is.",
            _ok(_ref("Webhook")),
            (401, 403, 404),
            security=_BEARER,
        ),
        "patch": _op(
            "Change, enable or disable an endpoint, or rotate its secret.",
            _ok(_ref("Webhook")),
            (400, 401, 403, 404, 415, 422),
            security=_BEARER,
            body=_ref("WebhookPatch"),
        ),
        "delete": _op(
            "Remove an endpoint and its deliveries.",
            _status(204, "Removed"),
            (401, 403, 404),
            security=_BEARER,
        ),
    },
    "/v1/webhooks/{webhook}/deliveries": {
        "parameters": [_WEBHOOK_PARAM],
        "get": _op(
            "The endpoint's deliveries, newest first: status, attempts, the last "
            "response code and an excerpt of the answer, timings.",
            _ok(_page(_ref("WebhookDelivery"))),
            (401, 403, 404, 422),
            security=_BEARER,
            parameters=[
                _query("status", {"enum": list(DELIVERY_STATES)}),
                _query("cursor", _matching(ROW_ID)),
                _limit(DELIVERIES_PAGE),
            ],
        ),
    },
    "/v1/webhooks/{webhook}/deliveries/{delivery}": {
        "parameters": [_WEBHOOK_PARAM, _DELIVERY_PARAM],
        "get": _op(
            "One delivery.", _ok(_ref("WebhookDelivery")), (401, 403, 404), security=_BEARER
        ),
    },
    "/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver": {
        "parameters": [_WEBHOOK_PARAM, _DELIVERY_PARAM],
        "post": _op(
            "Send a finished delivery again, with the same webhook-id.",
            _ok(_ref("WebhookDelivery"), status=202, description="Queued"),
            (401, 403, 404, 409),
            security=_BEARER,
        ),
    },
    "/v1/webhooks/{webhook}/redeliver": {
        "parameters": [_WEBHOOK_PARAM],
        "post": _op(
            "Queue again every failed or dead delivery created since a time.",
            _ok(status=202, description="Queued"),
            (400, 401, 403, 404, 415, 422),
            security=_BEARER,
            body=_input({"since": _time(nullable=False)}, required=("since",)),
        ),
    },
    "/v1/webhooks/{webhook}/test": {
        "parameters": [_WEBHOOK_PARAM],
        "post": _op(
            "Queue a webhook.test event to the endpoint.",
            _ok(_ref("WebhookDelivery"), status=202, description="Queued"),
            (401, 403, 404, 409),
            security=_BEARER,
        ),
    },
}


# --- the moderator's page and the widget (service.web.pages, service.web.api.review) --------------

_HTML: Final = {
    "description": "An HTML page",
    "content": {"text/html": {"schema": _STRING}},
}
_SEE_OTHER: Final = {"description": "Redirect (to the sign-in page, or after it)"}


_PAGE_PATHS: Final[dict[str, Schema]] = {
    "/v1/queue/summary": {
        "get": _op(
            "Counts per status (pending and held in full, approved and rejected "
            "over 24 hours), how long the oldest pending and held comments have waited, and "
            "the 50 articles with the most comments in `status`.",
            _ok(),
            (401, 404, 422),
            security=_SESSION_OR_BEARER,
            parameters=[
                _query("site", _matching(SLUG)),
                _query("article", _matching(ARTICLE_ID)),
                _query("status", {"enum": list(STATUSES)}),
            ],
        )
    },
    "/v1/changes": {
        "get": _op(
            "Status changes since `since` (the last answer's `now`; a few seconds "
            "repeat, so drop audit ids already seen) and every live claim: the live queue.",
            _ok(),
            (401, 404, 422),
            security=_SESSION_OR_BEARER,
            parameters=[_query("site", _matching(SLUG)), _query("since")],
        )
    },
    "/v1/claims": {
        "post": _op(
            "Open a comment for review: claim it for a few minutes (releasing "
            "your other claim), or learn who holds it (`mine` false).",
            _ok(),
            (400, 401, 404, 415, 422),
            security=_SESSION_OR_BEARER,
            body=_input({"comment_id": _UUID}, required=("comment_id",)),
        )
    },
    "/v1/claims/{comment}": {
        "parameters": [_COMMENT_PARAM],
        "delete": _op(
            "Leave a comment you claimed.",
            _status(204, "Released"),
            (401, 404),
            security=_SESSION_OR_BEARER,
        ),
    },
    "/v1/decisions/reopen": {
        "post": _op(
            "Put decided comments back in the held queue (undo, second look).",
            _ok(),
            (400, 401, 415, 422),
            security=_SESSION_OR_BEARER,
            body=_input({"ids": _ids(), "reason": _text(MAX_REASON_CHARS)}, required=("ids",)),
        )
    },
    "/v1/sites/{site}/policy/preview": {
        "parameters": [_SITE_PARAM],
        "post": _op(
            "Admin: how many of the site's last `last` decided comments a proposed "
            "policy would decide differently from the current one, re-run on stored scores.",
            _ok(),
            (400, 401, 403, 404, 415, 422),
            security=_SESSION_OR_BEARER,
            body=_input(
                {
                    "policy": _POLICY_OR_NULL,
                    "last": {"type": ["integer", "null"], "minimum": 1, "maximum": PREVIEW_MAX},
                }
            ),
        ),
    },
    "/v1/sites/{site}/calibration": {
        "parameters": [_SITE_PARAM],
        "get": _op(
            "The site's moderators and admins: per label, how the scores of held comments "
            "match the moderators' approvals and rejections (decisions, ROC-AUC, precision "
            "and recall of 'rejected' at each cut point) and suggested thresholds, or why "
            "there are none yet. Reads the `last` most recent decisions; `label`: one label.",
            _ok(_ref("Calibration")),
            (401, 403, 404, 422),
            security=_SESSION_OR_BEARER,
            parameters=[
                _query("label", {"enum": list(DETOXIFY_LABELS)}),
                _query(
                    "last",
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": CALIBRATION_MAX,
                        "default": CALIBRATION_DEFAULT,
                    },
                ),
            ],
        ),
    },
    "/moderate": {
        "get": _op("The moderator's page (HTML; sign in first).", {"200": _HTML, "303": _SEE_OTHER})
    },
    "/moderate/sign-in": {
        "get": _op("The sign-in form.", {"200": _HTML, "303": _SEE_OTHER}),
        "post": _op(
            "Sign in (form: name, password, csrf); sets the session cookie.",
            {"303": _SEE_OTHER, "401": _HTML, "403": _HTML, "429": _HTML},
            (400, 415),
            form=("name", "password", "csrf"),
        ),
    },
    "/moderate/sign-out": {
        "post": _op(
            "Sign out (form: csrf).",
            {"303": _SEE_OTHER, "403": _HTML},
            (400, 415),
            form=("csrf",),
        )
    },
    "/moderate/sites/{site}": {
        # Any string: without a session the page redirects to sign-in before reading it.
        "parameters": [_path("site", _STRING)],
        "get": _op(
            "A site's policy and webhooks (HTML); admins edit the policy here, and see its "
            "calibration and apply its suggestions (applied: the label just applied).",
            {"200": _HTML, "303": _SEE_OTHER},
            (404,),
            # Any string: a value that is not a label is ignored, and without a session the
            # page redirects to sign-in before reading it.
            parameters=[_query("applied", _STRING)],
        ),
    },
    "/demo": {
        "get": _op(
            "A sample article page with the comment widget.",
            {"200": _HTML},
            (404,),
            parameters=[_query("site"), _query("article")],
        )
    },
    "/embed.js": {
        "get": _op(
            "The article page's comment widget (a script).",
            {
                "200": {
                    "description": "JavaScript",
                    "content": {"text/javascript": {"schema": _STRING}},
                }
            },
        )
    },
    "/static/{name}": {
        "parameters": [_path("name", _STRING)],
        "get": _op(
            "The moderator page's script and style sheet.", _status(200, "The file"), (404,)
        ),
    },
}


# --- staff access (service.web.api.staff) -----------------------------------------------------

_ROLE: Final = {"enum": ["moderator", "admin"]}
_SITES_OR_ALL: Final = {
    "type": ["array", "null"],
    "items": _STRING,
    "description": "null: every site",
}
_CHANGED: Final = {**_BOOLEAN, "description": "on a change: false if it was"}
_TOKEN_PARAM: Final = _path(
    "token", _ROW_ID_SCHEMA, "The token's id (from GET /v1/tokens), never its secret"
)
# USER_NAME is anchored ^...$: names are stripped before it is tried, so the final newline
# Python's $ lets through never reaches it.
_USER_PARAM: Final = _path("user", {"type": "string", "pattern": USER_NAME.pattern})
_STAFF_SCHEMAS: Final[dict[str, Schema]] = {
    "Token": {
        "type": "object",
        "description": "An API token, without its secret.",
        "properties": {
            "id": _INTEGER,
            "role": _ROLE,
            "sites": _SITES_OR_ALL,
            "label": _STRING,
            "created_at": _WHEN,
            "last_used_at": {**_WHEN_OR_NULL, "description": "to within a minute"},
            "revoked_at": _WHEN_OR_NULL,
            "changed": {**_BOOLEAN, "description": "on a revocation: false if it was"},
        },
    },
    "User": {
        "type": "object",
        "description": "Someone who signs in to the moderator's page.",
        "properties": {
            "name": _STRING,
            "role": _ROLE,
            "sites": _SITES_OR_ALL,
            "created_at": _WHEN,
            "updated_at": _WHEN,
            "last_seen_at": _WHEN_OR_NULL,
            "disabled_at": _WHEN_OR_NULL,
            "changed": _CHANGED,
        },
    },
    "StaffChange": {
        "type": "object",
        "properties": {
            "id": _INTEGER,
            "action": {
                "enum": [
                    "token.created",
                    "token.revoked",
                    "user.created",
                    "user.updated",
                    "user.disabled",
                    "user.enabled",
                    "model.promoted",
                    "model.rolled_back",
                ]
            },
            "target": {
                **_STRING,
                "description": "token:<id>, user:<name> or model:<spec> (model:none: no "
                "model promoted any more)",
            },
            "sites": _SITES_OR_ALL,
            "actor": _STRING,
            "at": _WHEN,
        },
    },
}
_SCOPED: Final = " An admin of some sites sees only tokens and users whose every site is theirs."


def _staff_op(summary: str, ok: Schema, *errors: int, **more: Any) -> Schema:
    return _op(summary, ok, (401, 403, *errors), security=_SESSION_OR_BEARER, **more)


_STAFF_PATHS: Final[dict[str, Schema]] = {
    "/v1/tokens": {
        "get": _staff_op(
            "API tokens, revoked ones too, never their secrets (admin)." + _SCOPED,
            _ok(_page(_ref("Token"))),
        ),
    },
    "/v1/tokens/{token}/revoke": {
        "parameters": [_TOKEN_PARAM],
        "post": _staff_op(
            "Revoke a token: every request with it is refused from now on. "
            "Audited; revoking it again changes nothing.",
            _ok(_ref("Token")),
            404,
        ),
    },
    "/v1/users": {
        "get": _staff_op(
            "The people who sign in to the moderator's page (admin)." + _SCOPED,
            _ok(_page(_ref("User"))),
        ),
    },
    "/v1/users/{user}/disable": {
        "parameters": [_USER_PARAM],
        "post": _staff_op(
            "Disable a user: they cannot sign in, and their sessions end now. Audited.",
            _ok(_ref("User")),
            404,
        ),
    },
    "/v1/users/{user}/enable": {
        "parameters": [_USER_PARAM],
        "post": _staff_op("Let a disabled user sign in again. Audited.", _ok(_ref("User")), 404),
    },
    "/v1/staff-audit": {
        "get": _staff_op(
            "The latest changes to tokens and users, newest first (admin)." + _SCOPED,
            _ok(_page(_ref("StaffChange"))),
            422,
            parameters=[_limit(STAFF_AUDIT_PAGE)],
        ),
    },
}


# --- authors: identity, history, trust, sanctions (service.web.api.authors) ---------------

_AUTHOR_PARAM: Final = _path(
    "author", _matching(AUTHOR_ID), "The author id: the hex of the author key"
)
_HISTORY: Final = {
    "type": "object",
    "properties": {k: _INTEGER for k in ("approved", "rejected", "held", "pending")},
}
_AUTHOR_SCHEMAS: Final[dict[str, Schema]] = {
    "CommentAuthor": {
        "type": "object",
        "description": "Who wrote a comment; id is null once the author is erased.",
        "properties": {
            "id": _STRING_OR_NULL,
            "name": _STRING,
            "verified": _BOOLEAN,
            "first_seen": _WHEN_OR_NULL,
            "history": _HISTORY,
        },
    },
    "Sanction": {
        "type": "object",
        "properties": {
            "kind": {"enum": ["ban", "suspend"]},
            "until": _WHEN_OR_NULL,
            "reason": _STRING_OR_NULL,
            "by": _STRING,
            "at": _WHEN,
        },
    },
    "SanctionNew": _input(
        {
            "kind": {"enum": ["ban", "suspend"]},
            "until": {
                **_time(nullable=True),
                "description": "suspend: required, in the future; ban: left out. " + _TIME_RANGE,
            },
            "reason": _text(MAX_REASON_CHARS, required=True),
        },
        required=("kind", "reason"),
        # A ban has no end; a suspension must have one.
        oneOf=[
            {"properties": {"kind": {"const": "ban"}, "until": {"type": "null"}}},
            {
                "required": ["until"],
                "properties": {"kind": {"const": "suspend"}, "until": {"type": "string"}},
            },
        ],
    ),
    "Author": {
        "type": "object",
        "properties": {
            "id": _STRING,
            "name": _STRING_OR_NULL,
            "verified": _BOOLEAN,
            "first_seen": _WHEN_OR_NULL,
            "last_seen": _WHEN_OR_NULL,
            "history": _HISTORY,
            "sanction": {"oneOf": [_ref("Sanction"), {"type": "null"}]},
        },
    },
}
_AUTHOR_PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/authors/{author}": {
        "parameters": [_SITE_PARAM, _AUTHOR_PARAM],
        "get": _op(
            "An author on the site: name, verified, first and last seen, counts of their "
            "comments per state, the sanction in force (moderators of the site).",
            _ok(_ref("Author")),
            (401, 404),
            security=_BEARER,
        ),
    },
    "/v1/sites/{site}/authors/{author}/comments": {
        "parameters": [_SITE_PARAM, _AUTHOR_PARAM],
        "get": _op(
            "The author's comments on the site, newest first, as moderators see them.",
            _ok(_page(_ref("Comment"))),
            (401, 404, 422),
            security=_BEARER,
            parameters=[_CURSOR, _limit(AUTHOR_COMMENTS_PAGE)],
        ),
    },
    "/v1/sites/{site}/authors/{author}/sanctions": {
        "parameters": [_SITE_PARAM, _AUTHOR_PARAM],
        "post": _op(
            "Ban (until lifted) or suspend (until a time) the author, replacing any sanction "
            "before; their new comments are rejected at once (rule banned or suspended). "
            "Audited; sends author.sanctioned.",
            _ok(_ref("Sanction"), status=201, description="Created"),
            (400, 401, 404, 415, 422),
            security=_BEARER,
            body=_ref("SanctionNew"),
        ),
        "delete": _op(
            "Lift the author's sanction; lifted is false when none was in force. Audited; "
            "sends author.unsanctioned.",
            _ok({"type": "object", "properties": {"lifted": _BOOLEAN}}),
            (401, 404),
            security=_BEARER,
        ),
    },
    "/v1/sites/{site}/sso-secret": {
        "parameters": [_SITE_PARAM],
        "post": _op(
            "A new SSO secret for the site's sign-in to sign author tokens with (admin); shown "
            "this once, and the one before stops working at once.",
            _ok(
                {"type": "object", "properties": {"secret": _STRING, "rotated_at": _WHEN}},
                status=201,
                description="Created",
            ),
            (401, 403, 404),
            security=_BEARER,
        ),
    },
}


# --- models: live, shadow, promoted (service.web.api.shadows, .promotions) ----------------

_COUNT: Final = {"type": "integer", "minimum": 0}
_SHARE: Final = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_MODEL: Final = {
    "model": {**_STRING_OR_NULL, "description": "name@version"},
    "name": _STRING_OR_NULL,
    "version": _STRING_OR_NULL,
}
_AGREEMENT: Final = {"compared": _COUNT, "agreeing": _COUNT, "agreement": _SHARE}
_MODEL_SCHEMAS: Final[dict[str, Schema]] = {
    "Models": {
        "type": "object",
        "properties": {
            "live": {
                "type": "array",
                "description": "the models the workers that reported lately decide with",
                "items": {"type": "object", "properties": {**_MODEL, "workers": _COUNT}},
            },
            "shadows": {
                "type": "array",
                "description": f"the shadow models ({env_name('shadow_models')}) of those "
                "workers, alike ones added up: failed means it could not be loaded (or is "
                "the live model), with the error; scored, failures (batches failed or past "
                "the time limit) and skipped (comments, while busy) count since each worker "
                "started",
                "items": {
                    "type": "object",
                    "properties": {
                        "spec": _STRING,
                        "state": {"enum": ["loading", "loaded", "failed"]},
                        **_MODEL,
                        "error": _STRING_OR_NULL,
                        "workers": _COUNT,
                        "scored": _COUNT,
                        "failures": _COUNT,
                        "skipped": _COUNT,
                    },
                },
            },
            "promoted": {
                "type": "object",
                "description": "the models promoted for every site and per site (the sites "
                "the caller covers; null or absent: the workers' configured model), and per "
                "promoted model how many workers loaded it, are loading it or could not load "
                "it (with the first error): until loaded, a site keeps its model before",
                "properties": {
                    "every_site": _STRING_OR_NULL,
                    "sites": {"type": "object", "additionalProperties": _STRING},
                    "workers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "spec": _STRING,
                                "loaded": _COUNT,
                                "loading": _COUNT,
                                "failed": _COUNT,
                                "model": {**_STRING_OR_NULL, "description": "name@version"},
                                "error": _STRING,
                            },
                        },
                    },
                },
            },
            "sites": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "shadows": {"type": "array", "items": _ref("ShadowFigures")},
                    },
                },
            },
        },
    },
    "Promotion": {
        "type": "object",
        "description": "One change of a scope's model (site null: every site). model: the "
        "spec put in force (null: none promoted any more, the scope follows the every-site "
        "model, else the workers' configured one); previous: the one before.",
        "properties": {
            "id": _COUNT,
            "site": _STRING_OR_NULL,
            "model": _STRING_OR_NULL,
            "previous": _STRING_OR_NULL,
            "action": {"enum": ["promote", "rollback"]},
            "by": _STRING,
            "at": _WHEN,
        },
    },
    "PromotionNew": _input(
        {
            "model": {
                **_text(MAX_SPEC_CHARS, required=True),
                "description": "default, original, unbiased, multilingual or the path of a "
                "Detoxify checkpoint or model folder, as the workers can load it (and this "
                "server can see)",
            },
            "site": _matching(SLUG, "omit for every site (all-sites admins)"),
        },
        required=("model",),
    ),
    "RollbackNew": _input(
        {"site": _matching(SLUG, "omit for every site (all-sites admins)")},
    ),
    "ShadowFigures": {
        "type": "object",
        "description": "A shadow model on a site. Its verdicts are the comment's own policy "
        "applied to its scores, with the inputs the live decision had. Against moderators: "
        "their last approval or rejection is the truth; a verdict agrees when it would "
        "publish (approved) what they approved, or not (held, rejected) what they rejected; "
        "roc_auc ranks by the highest label score against their rejections (null until "
        "they both approved and rejected some); live gives the live model's figures on the "
        "same comments.",
        "properties": {
            **_MODEL,
            "comments": _COUNT,
            "first_scored_at": _WHEN,
            "last_scored_at": _WHEN,
            "ms_per_comment": {
                "type": ["number", "null"],
                "description": "the scoring time it adds, per comment",
            },
            "verdicts": {
                "type": "object",
                "properties": {k: _COUNT for k in ("approved", "held", "rejected")},
            },
            "against_live": {"type": "object", "properties": _AGREEMENT},
            "against_moderators": {
                "type": "object",
                "properties": {
                    "decided": _COUNT,
                    "rejected": _COUNT,
                    "agreeing": _COUNT,
                    "agreement": _SHARE,
                    "roc_auc": _SHARE,
                    "live": {
                        "type": "object",
                        "properties": {**_AGREEMENT, "roc_auc": _SHARE},
                    },
                },
            },
        },
    },
}
_MODEL_PATHS: Final[dict[str, Schema]] = {
    "/v1/models": {
        "get": _op(
            "The live and shadow models the workers run and, per site, how each shadow "
            "would have decided against the live decisions and the moderators, and the "
            "scoring time it adds (moderators of the site, admins). Without site: every "
            "site the caller covers where a shadow scored comments.",
            _ok(_ref("Models")),
            (401, 404),
            security=_BEARER,
            parameters=[_query("site", _matching(SLUG))],
        ),
    },
    "/v1/models/promote": {
        "post": _op(
            "Promote a model for a site or every site (admin of it): the workers pick it up "
            "within seconds, without a restart; comments already decided stay decided. "
            "Audited; sends model.promoted to each site whose model it changes. 409: it is "
            "already the scope's model.",
            _ok(_ref("Promotion"), status=201, description="Created"),
            (400, 401, 403, 404, 409, 415, 422),
            security=_BEARER,
            body=_ref("PromotionNew"),
        ),
    },
    "/v1/models/rollback": {
        "post": _op(
            "Restore the scope's model before its newest change, in one step (admin). "
            "Audited; sends model.promoted. 409: nothing was ever promoted there.",
            _ok(_ref("Promotion"), status=201, description="Created"),
            (400, 401, 403, 404, 409, 415, 422),
            security=_BEARER,
            body=_ref("RollbackNew"),
        ),
    },
    "/v1/models/promotions": {
        "get": _op(
            "Every promotion and rollback, newest first: those of the sites the caller "
            "covers (moderators too) and the every-site ones; site narrows to one site's.",
            _ok(_page(_ref("Promotion"))),
            (401, 404, 422),
            security=_BEARER,
            parameters=[_query("site", _matching(SLUG)), _limit(PROMOTIONS_PAGE)],
        ),
    },
}


# --- the document -------------------------------------------------------------------------

PATHS: Final[dict[str, Schema]] = {
    **_PATHS,
    **_WEBHOOK_PATHS,
    **_PAGE_PATHS,
    **_STAFF_PATHS,
    **_AUTHOR_PATHS,
    **_MODEL_PATHS,
}
_SECURITY_SCHEMES: Final = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Moderator or admin token"},
    "authorToken": {"type": "http", "scheme": "bearer", "description": "author_token"},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The moderator page's session; reads need only the cookie, "
        f"every change also sends the page's CSRF token as {CSRF_HEADER}",
    },
}


def build_spec(settings: Settings) -> Schema:
    """The document for an app run with ``settings``: the limits operators set are theirs."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "replyguard",
            "version": "1",
            "description": "Comment moderation for news sites. Errors are "
            "application/problem+json. A request body may hold at most "
            f"{_setting(settings, 'max_request_bytes')} bytes (413 past that). Operators' "
            "/readyz and /metrics are not on this listener: they are served on the "
            f"operations listener ({env_name('ops_host')}:{env_name('ops_port')}, "
            f"{settings.ops_host}:{settings.ops_port} here).",
        },
        "paths": PATHS,
        "components": {
            "schemas": {
                **SCHEMAS,
                "NewComment": _new_comment(settings),
                **_WEBHOOK_SCHEMAS,
                **_STAFF_SCHEMAS,
                **_AUTHOR_SCHEMAS,
                **_MODEL_SCHEMAS,
            },
            "responses": {
                "Problem": {
                    "description": "An error, with the fields that were wrong",
                    "content": {"application/problem+json": {"schema": _ref("Problem")}},
                }
            },
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


#: The document for the default settings (tests and tools that need no app).
SPEC: Final = build_spec(Settings())


def serialised(settings: Settings) -> str:
    """``build_spec(settings)`` as the JSON text the handler serves (made once per app)."""
    return json.dumps(build_spec(settings))


async def handler(request: web.Request) -> web.Response:
    return web.Response(text=request.app[keys.OPENAPI], content_type="application/json")
