"""The OpenAPI 3.1 description of every endpoint, served at ``/v1/openapi.json``.

Written by hand next to the handlers; a test checks that every route the app serves is
described here, and nothing more.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from moderation.domain import DETOXIFY_LABELS, STATUSES

_PROBLEM: Final = {"$ref": "#/components/responses/Problem"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _PROBLEM for code in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# What service.validation accepts: text has no control characters but tab and line breaks
# (a required text also needs a character that is not white space); ids are slugs.
_NO_CONTROL: Final = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
_SOME_TEXT: Final = (
    "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*"
    "[^\\s\\u0000-\\u001f\\u007f]"
    "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
)
_SLUG: Final = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"}
# An http(s) URL up to its host and port (a plain ASCII host: IDNs go as punycode).
_HTTP: Final = "[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~%!$&'()*+,;=-][A-Za-z0-9._~%!$&'()*+,;=:-]*"
_ARTICLE: Final = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$"}
_LIMIT_100: Final = {"type": "integer", "minimum": 1, "maximum": 100}
_LIMIT_200: Final = {"type": "integer", "minimum": 1, "maximum": 200}


def _text(max_length: int, *, required: bool = False) -> dict[str, Any]:
    """A text field; an optional one may also be null (the same as leaving it out)."""
    if required:
        return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _SOME_TEXT}
    return {"type": ["string", "null"], "maxLength": max_length, "pattern": _NO_CONTROL}


_SITE_PARAM: Final = {"name": "site", "in": "path", "required": True, "schema": _SLUG}
_ARTICLE_PARAM: Final = {
    "name": "article",
    "in": "path",
    "required": True,
    "schema": _ARTICLE,
}
_COMMENT_PARAM: Final = {
    "name": "comment",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_BEARER: Final[list[dict[str, list[str]]]] = [{"bearer": []}]

_THRESHOLDS: Final = {
    "type": "object",
    "properties": {
        "hold_at": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "reject_at": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    },
    "additionalProperties": False,
}

# Whole words or phrases, matched case-insensitively; each needs a character that is not
# white space (NUL is refused in every request: PostgreSQL cannot store it).
_TERMS: Final = {
    "type": "array",
    "maxItems": 1000,
    "items": {
        "type": "string",
        "maxLength": 100,
        "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$",
    },
}

SCHEMAS: Final[dict[str, Any]] = {
    "Policy": {
        "type": "object",
        "properties": {
            "mode": {"enum": ["auto", "pre", "post"]},
            "thresholds": {
                "type": "object",
                "propertyNames": {"enum": list(DETOXIFY_LABELS)},
                "additionalProperties": _THRESHOLDS,
            },
            "blocked_terms": _TERMS,
            "watched_terms": _TERMS,
            "max_links": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000},
            "report_threshold": {"type": "integer", "minimum": 1, "maximum": 10_000},
            "backlog_seconds": {"type": "integer", "minimum": 10, "maximum": 86_400},
            "unsupported_language": {"enum": ["hold", "score"]},
            "threat_patterns": {"enum": ["hold", "off"]},
        },
        "additionalProperties": False,
    },
    "SitePut": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": _text(200, required=True),
            "allowed_origins": {
                "type": ["array", "null"],
                "maxItems": 50,
                "items": {
                    "type": "string",
                    "pattern": f"^{_HTTP}/?$",
                },
            },
            "policy": {
                "oneOf": [_ref("Policy"), {"type": "null"}],
                "description": "left out or null: the default policy",
            },
        },
        "additionalProperties": False,
    },
    "Site": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "allowed_origins": {"type": "array", "items": {"type": "string"}},
            "policy": _ref("Policy"),
            "policy_version": {"type": "integer"},
        },
    },
    "NewComment": {
        "type": "object",
        "required": ["body", "author_name"],
        "properties": {
            "body": {
                **_text(5000, required=True),
                "description": "at most REPLYGUARD_MAX_BODY_CHARS (5000) characters and "
                "REPLYGUARD_MAX_BODY_BYTES (20000) bytes of UTF-8",
            },
            "author_name": {
                **_text(80, required=True),
                "description": "at most REPLYGUARD_MAX_NAME_CHARS (80) characters",
            },
            "author_email": {
                "type": ["string", "null"],
                "maxLength": 254,
                "pattern": "^[^@\\s\\u0000-\\u001f\\u007f]{1,64}@"
                "[^@\\s\\u0000-\\u001f\\u007f]{1,255}\\.[^@\\s\\u0000-\\u001f\\u007f]{1,63}$",
            },
            "parent_id": {
                "type": ["string", "null"],
                "format": "uuid",
                "description": "a comment of the same article",
            },
            "article_url": {
                "type": ["string", "null"],
                "maxLength": 2000,
                "pattern": f"^{_HTTP}([/?#][^\\s\\u0000-\\u001f\\u007f]*)?$",
                "description": "kept only when on one of the site's allowed_origins (else "
                "ignored); moderators and webhooks see it as the article's link",
            },
            "article_title": {
                **_text(300),
                "description": "kept from the first comment that gives one; shown to "
                "moderators as plain text, marked as given by a reader",
            },
        },
        "additionalProperties": False,
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "status", "author_token"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"const": "pending"},
            "author_token": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "ThreadItem": {
        "type": "object",
        "description": "An approved comment, or (removed: true) a rejected one kept in place, "
        "without name or words, for the approved replies below it. Replies below a pending "
        "or held comment wait until it is decided.",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "parent_id": {"type": ["string", "null"]},
            "removed": {"type": "boolean"},
            "author_name": {"type": ["string", "null"]},
            "body": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "replies": {"type": "array", "items": _ref("ThreadItem")},
        },
    },
    "AuthorsComment": {
        "type": "object",
        "description": "A comment as its author sees it (with the author_token).",
        "required": ["id", "status", "visible", "waiting_for"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"enum": list(STATUSES)},
            "visible": {
                "type": "boolean",
                "description": "readers see it in the thread now",
            },
            "waiting_for": {
                "enum": ["moderation", "parent", None],
                "description": "moderation: it is pending or held; parent: it is approved, "
                "and shown once the comment it replies to (or one above that) is decided",
            },
            "body": {"type": "string"},
            "author_name": {"type": "string"},
            "parent_id": {"type": ["string", "null"]},
        },
    },
    "Comment": {
        "type": "object",
        "required": ["id", "status", "body", "scores", "explanation"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "site_id": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "body": {"type": "string"},
            "author_name": {"type": "string"},
            "parent": {"type": ["object", "null"]},
            "scores": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
            "explanation": {"type": ["object", "null"]},
        },
    },
    "Decision": {
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {"enum": ["approve", "reject"]},
            "reason": _text(500),
        },
        "additionalProperties": False,
    },
    "BulkDecision": {
        "type": "object",
        "required": ["ids", "action"],
        "properties": {
            "ids": {
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
                "minItems": 1,
                "maxItems": 500,
            },
            "action": {"enum": ["approve", "reject"]},
            "reason": _text(500),
        },
        "additionalProperties": False,
    },
    "ArticlePolicy": {
        "type": "object",
        "properties": {
            "policy_override": {"oneOf": [_ref("Policy"), {"type": "null"}]},
            "until": {"type": ["string", "null"], "format": "date-time", "maxLength": 40},
        },
        "additionalProperties": False,
    },
    "Problem": {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                },
            },
        },
    },
}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


# --- webhooks (service.webhook_api) -------------------------------------------------------

_WEBHOOK_EVENTS: Final = [
    "comment.held",
    "comment.approved",
    "comment.rejected",
    "comment.reported",
    "queue.backlog",
]
_WEBHOOK_PARAM: Final = {
    "name": "webhook",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_DELIVERY_PARAM: Final = {
    "name": "delivery",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_WEBHOOK_SCHEMAS: Final[dict[str, Any]] = {
    "WebhookNew": {
        "type": "object",
        "required": ["url", "events"],
        "properties": {
            "url": {
                "type": "string",
                "format": "uri",
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                "maxLength": 2000,
                "description": "http or https; private, loopback and link-local "
                "addresses are refused unless allowed by "
                "REPLYGUARD_WEBHOOK_ALLOWED_NETWORKS",
            },
            "events": {"type": "array", "minItems": 1, "items": {"enum": _WEBHOOK_EVENTS}},
            "site": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
                "description": "omit for every site (all-sites admins)",
            },
            "description": _text(500),
        },
        "additionalProperties": False,
    },
    "WebhookPatch": {
        "type": "object",
        "minProperties": 1,
        "properties": {
            "url": {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
            "events": {"type": "array", "minItems": 1, "items": {"enum": _WEBHOOK_EVENTS}},
            "description": _text(500),
            "enabled": {"type": "boolean"},
            "rotate_secret": {
                "type": "boolean",
                "description": "a new secret signs from now on; the old one signs beside it "
                "for REPLYGUARD_WEBHOOK_SECRET_OVERLAP seconds",
            },
        },
        "additionalProperties": False,
    },
    "Webhook": {
        "type": "object",
        "required": ["id", "url", "events", "enabled"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "url": {"type": "string"},
            "site_id": {"type": ["string", "null"]},
            "events": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string"},
            "enabled": {"type": "boolean"},
            "disabled": {
                "type": ["object", "null"],
                "description": "why, when and by whom ('system': 410 Gone, or days of "
                "continuous failure)",
            },
            "failing_since": {"type": ["string", "null"], "format": "date-time"},
            "previous_secret_valid_until": {"type": ["string", "null"], "format": "date-time"},
            "secret": {
                "type": "string",
                "description": "whsec_...: only in the answer that created or rotated it",
            },
        },
    },
    "WebhookDelivery": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "webhook_id": {"type": "string", "description": "the webhook-id header"},
            "event_type": {"type": "string"},
            "status": {"enum": ["pending", "delivering", "delivered", "failed", "dead"]},
            "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "response_excerpt": {"type": ["string", "null"]},
            "timings": {"type": "object"},
        },
    },
}
_WEBHOOK_PATHS: Final[dict[str, Any]] = {
    "/v1/webhooks": {
        "post": {
            "summary": "Register a webhook endpoint (admin); the answer shows its secret once.",
            "security": _BEARER,
            "requestBody": _body(_ref("WebhookNew")),
            "responses": {
                "201": _json(_ref("Webhook"), "Created"),
                **_errors(400, 401, 403, 415, 422),
            },
        },
        "get": {
            "summary": "The webhook endpoints this admin may see.",
            "security": _BEARER,
            "parameters": [{"name": "site", "in": "query", "schema": _SLUG}],
            "responses": {"200": _json(_page(_ref("Webhook"))), **_errors(401, 403, 422)},
        },
    },
    "/v1/webhooks/{webhook}": {
        "parameters": [_WEBHOOK_PARAM],
        "get": {
            "summary": "One webhook endpoint, with why it is disabled if it is.",
            "security": _BEARER,
            "responses": {"200": _json(_ref("Webhook")), **_errors(401, 403, 404)},
        },
        "patch": {
            "summary": "Change, enable or disable an endpoint, or rotate its secret.",
            "security": _BEARER,
            "requestBody": _body(_ref("WebhookPatch")),
            "responses": {
                "200": _json(_ref("Webhook")),
                **_errors(400, 401, 403, 404, 415, 422),
            },
        },
        "delete": {
            "summary": "Remove an endpoint and its deliveries.",
            "security": _BEARER,
            "responses": {"204": {"description": "Removed"}, **_errors(401, 403, 404)},
        },
    },
    "/v1/webhooks/{webhook}/deliveries": {
        "parameters": [_WEBHOOK_PARAM],
        "get": {
            "summary": "The endpoint's deliveries, newest first: status, attempts, the last "
            "response code and an excerpt of the answer, timings.",
            "security": _BEARER,
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"enum": ["pending", "delivering", "delivered", "failed", "dead"]},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                },
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}},
            ],
            "responses": {
                "200": _json(_page(_ref("WebhookDelivery"))),
                **_errors(401, 403, 404, 422),
            },
        },
    },
    "/v1/webhooks/{webhook}/deliveries/{delivery}": {
        "parameters": [_WEBHOOK_PARAM, _DELIVERY_PARAM],
        "get": {
            "summary": "One delivery.",
            "security": _BEARER,
            "responses": {"200": _json(_ref("WebhookDelivery")), **_errors(401, 403, 404)},
        },
    },
    "/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver": {
        "parameters": [_WEBHOOK_PARAM, _DELIVERY_PARAM],
        "post": {
            "summary": "Send a finished delivery again, with the same webhook-id.",
            "security": _BEARER,
            "responses": {
                "202": _json(_ref("WebhookDelivery"), "Queued"),
                **_errors(401, 403, 404, 409),
            },
        },
    },
    "/v1/webhooks/{webhook}/redeliver": {
        "parameters": [_WEBHOOK_PARAM],
        "post": {
            "summary": "Queue again every failed or dead delivery created since a time.",
            "security": _BEARER,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["since"],
                    "properties": {"since": {"type": "string", "format": "date-time"}},
                    "additionalProperties": False,
                }
            ),
            "responses": {
                "202": _json({"type": "object"}, "Queued"),
                **_errors(400, 401, 403, 404, 415, 422),
            },
        },
    },
    "/v1/webhooks/{webhook}/test": {
        "parameters": [_WEBHOOK_PARAM],
        "post": {
            "summary": "Queue a webhook.test event to the endpoint.",
            "security": _BEARER,
            "responses": {
                "202": _json(_ref("WebhookDelivery"), "Queued"),
                **_errors(401, 403, 404, 409),
            },
        },
    },
}


# --- the moderator's page and the widget (service.pages, service.review_api) --------------

_SESSION_OR_BEARER: Final[list[dict[str, list[str]]]] = [{"bearer": []}, {"session": []}]
_HTML: Final = {
    "description": "An HTML page",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
_SEE_OTHER: Final = {"description": "Redirect (to the sign-in page, or after it)"}
_STATUS_PARAM: Final = {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}}


def _form_body(*fields: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": list(fields),
                    "properties": {f: {"type": "string"} for f in fields},
                }
            }
        },
    }


_PAGE_PATHS: Final[dict[str, Any]] = {
    "/v1/queue/summary": {
        "get": {
            "summary": "Counts per status (pending and held in full, approved and rejected "
            "over 24 hours), how long the oldest pending and held comments have waited, and "
            "the 50 articles with the most comments in `status`.",
            "security": _SESSION_OR_BEARER,
            "parameters": [
                {"name": "site", "in": "query", "schema": _SLUG},
                {"name": "article", "in": "query", "schema": _ARTICLE_PARAM["schema"]},
                _STATUS_PARAM,
            ],
            "responses": {"200": _json({"type": "object"}), **_errors(401, 404, 422)},
        }
    },
    "/v1/changes": {
        "get": {
            "summary": "Status changes since `since` (the last answer's `now`; a few seconds "
            "repeat, so drop audit ids already seen) and every live claim: the live queue.",
            "security": _SESSION_OR_BEARER,
            "parameters": [
                {"name": "site", "in": "query", "schema": _SLUG},
                {"name": "since", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {"200": _json({"type": "object"}), **_errors(401, 404, 422)},
        }
    },
    "/v1/claims": {
        "post": {
            "summary": "Open a comment for review: claim it for a few minutes (releasing "
            "your other claim), or learn who holds it (`mine` false).",
            "security": _SESSION_OR_BEARER,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["comment_id"],
                    "properties": {"comment_id": {"type": "string", "format": "uuid"}},
                    "additionalProperties": False,
                }
            ),
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 404, 415, 422)},
        }
    },
    "/v1/claims/{comment}": {
        "parameters": [_COMMENT_PARAM],
        "delete": {
            "summary": "Leave a comment you claimed.",
            "security": _SESSION_OR_BEARER,
            "responses": {"204": {"description": "Released"}, **_errors(401, 404)},
        },
    },
    "/v1/decisions/reopen": {
        "post": {
            "summary": "Put decided comments back in the held queue (undo, second look).",
            "security": _SESSION_OR_BEARER,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["ids"],
                    "properties": {
                        "ids": {
                            "type": "array",
                            "items": {"type": "string", "format": "uuid"},
                            "minItems": 1,
                            "maxItems": 500,
                        },
                        "reason": _text(500),
                    },
                    "additionalProperties": False,
                }
            ),
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 415, 422)},
        }
    },
    "/v1/sites/{site}/policy/preview": {
        "parameters": [_SITE_PARAM],
        "post": {
            "summary": "Admin: how many of the site's last `last` decided comments a proposed "
            "policy would decide differently from the current one, re-run on stored scores.",
            "security": _SESSION_OR_BEARER,
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "policy": {"oneOf": [_ref("Policy"), {"type": "null"}]},
                        "last": {"type": ["integer", "null"], "minimum": 1, "maximum": 2000},
                    },
                    "additionalProperties": False,
                }
            ),
            "responses": {
                "200": _json({"type": "object"}),
                **_errors(400, 401, 403, 404, 415, 422),
            },
        },
    },
    "/moderate": {
        "get": {
            "summary": "The moderator's page (HTML; sign in first).",
            "responses": {"200": _HTML, "303": _SEE_OTHER},
        }
    },
    "/moderate/sign-in": {
        "get": {"summary": "The sign-in form.", "responses": {"200": _HTML, "303": _SEE_OTHER}},
        "post": {
            "summary": "Sign in (form: name, password, csrf); sets the session cookie.",
            "requestBody": _form_body("name", "password", "csrf"),
            "responses": {
                "303": _SEE_OTHER,
                "401": _HTML,
                "403": _HTML,
                "429": _HTML,
                **_errors(400, 415),
            },
        },
    },
    "/moderate/sign-out": {
        "post": {
            "summary": "Sign out (form: csrf).",
            "requestBody": _form_body("csrf"),
            "responses": {"303": _SEE_OTHER, "403": _HTML, **_errors(400, 415)},
        }
    },
    "/moderate/sites/{site}": {
        # Any string: without a session the page redirects to sign-in before reading it.
        "parameters": [{**_SITE_PARAM, "schema": {"type": "string"}}],
        "get": {
            "summary": "A site's policy and webhooks (HTML); admins edit the policy here.",
            "responses": {"200": _HTML, "303": _SEE_OTHER, **_errors(404)},
        },
    },
    "/demo": {
        "get": {
            "summary": "A sample article page with the comment widget.",
            "parameters": [
                {"name": "site", "in": "query", "schema": {"type": "string"}},
                {"name": "article", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {"200": _HTML, **_errors(404)},
        }
    },
    "/embed.js": {
        "get": {
            "summary": "The article page's comment widget (a script).",
            "responses": {
                "200": {
                    "description": "JavaScript",
                    "content": {"text/javascript": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/static/{name}": {
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": {
            "summary": "The moderator page's script and style sheet.",
            "responses": {"200": {"description": "The file"}, **_errors(404)},
        },
    },
}


# --- staff access (service.staff_api) -----------------------------------------------------

_SITES_OR_ALL: Final = {
    "type": ["array", "null"],
    "items": {"type": "string"},
    "description": "null: every site",
}
_WHEN: Final = {"type": "string", "format": "date-time"}
_WHEN_OR_NULL: Final = {"type": ["string", "null"], "format": "date-time"}
_TOKEN_PARAM: Final = {
    "name": "token",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
    "description": "The token's id (from GET /v1/tokens), never its secret",
}
_USER_PARAM: Final = {
    "name": "user",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._@-]{0,63}$"},
}
_STAFF_SCHEMAS: Final[dict[str, Any]] = {
    "Token": {
        "type": "object",
        "description": "An API token, without its secret.",
        "properties": {
            "id": {"type": "integer"},
            "role": {"enum": ["moderator", "admin"]},
            "sites": _SITES_OR_ALL,
            "label": {"type": "string"},
            "created_at": _WHEN,
            "last_used_at": {**_WHEN_OR_NULL, "description": "to within a minute"},
            "revoked_at": _WHEN_OR_NULL,
            "changed": {"type": "boolean", "description": "on a revocation: false if it was"},
        },
    },
    "User": {
        "type": "object",
        "description": "Someone who signs in to the moderator's page.",
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": ["moderator", "admin"]},
            "sites": _SITES_OR_ALL,
            "created_at": _WHEN,
            "updated_at": _WHEN,
            "last_seen_at": _WHEN_OR_NULL,
            "disabled_at": _WHEN_OR_NULL,
            "changed": {"type": "boolean", "description": "on a change: false if it was"},
        },
    },
    "StaffChange": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "action": {
                "enum": [
                    "token.created",
                    "token.revoked",
                    "user.created",
                    "user.updated",
                    "user.disabled",
                    "user.enabled",
                ]
            },
            "target": {"type": "string", "description": "token:<id> or user:<name>"},
            "sites": _SITES_OR_ALL,
            "actor": {"type": "string"},
            "at": _WHEN,
        },
    },
}
_SCOPED: Final = " An admin of some sites sees only tokens and users whose every site is theirs."
_STAFF_PATHS: Final[dict[str, Any]] = {
    "/v1/tokens": {
        "get": {
            "summary": "API tokens, revoked ones too, never their secrets (admin)." + _SCOPED,
            "security": _SESSION_OR_BEARER,
            "responses": {"200": _json(_page(_ref("Token"))), **_errors(401, 403)},
        },
    },
    "/v1/tokens/{token}/revoke": {
        "parameters": [_TOKEN_PARAM],
        "post": {
            "summary": "Revoke a token: every request with it is refused from now on. "
            "Audited; revoking it again changes nothing.",
            "security": _SESSION_OR_BEARER,
            "responses": {"200": _json(_ref("Token")), **_errors(401, 403, 404)},
        },
    },
    "/v1/users": {
        "get": {
            "summary": "The people who sign in to the moderator's page (admin)." + _SCOPED,
            "security": _SESSION_OR_BEARER,
            "responses": {"200": _json(_page(_ref("User"))), **_errors(401, 403)},
        },
    },
    "/v1/users/{user}/disable": {
        "parameters": [_USER_PARAM],
        "post": {
            "summary": "Disable a user: they cannot sign in, and their sessions end now. Audited.",
            "security": _SESSION_OR_BEARER,
            "responses": {"200": _json(_ref("User")), **_errors(401, 403, 404)},
        },
    },
    "/v1/users/{user}/enable": {
        "parameters": [_USER_PARAM],
        "post": {
            "summary": "Let a disabled user sign in again. Audited.",
            "security": _SESSION_OR_BEARER,
            "responses": {"200": _json(_ref("User")), **_errors(401, 403, 404)},
        },
    },
    "/v1/staff-audit": {
        "get": {
            "summary": "The latest changes to tokens and users, newest first (admin)." + _SCOPED,
            "security": _SESSION_OR_BEARER,
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                }
            ],
            "responses": {"200": _json(_page(_ref("StaffChange"))), **_errors(401, 403, 422)},
        },
    },
}


PATHS: Final[dict[str, Any]] = {
    "/v1/sites/{site}/articles/{article}/comments": {
        "parameters": [_SITE_PARAM, _ARTICLE_PARAM],
        "post": {
            "summary": "Submit a comment or reply; answered at once, scored later.",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
                }
            ],
            "requestBody": _body(_ref("NewComment")),
            "responses": {
                "202": _json(_ref("Accepted"), "Accepted and queued for scoring"),
                **_errors(400, 404, 409, 413, 415, 422, 429, 503),
            },
        },
        "get": {
            "summary": "The approved thread, replies nested, a page of top-level comments.",
            "parameters": [
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": _LIMIT_100},
            ],
            "responses": {"200": _json(_page(_ref("ThreadItem"))), **_errors(404, 422, 503)},
        },
        "options": {
            "summary": "CORS preflight.",
            "responses": {"204": {"description": "OK"}, **_errors(404, 422)},
        },
    },
    "/v1/comments/{comment}": {
        "parameters": [_COMMENT_PARAM],
        "get": {
            "summary": "A comment: its status for its author (author_token), all of it "
            "for a moderator of its site.",
            "security": [{"bearer": []}, {"authorToken": []}],
            "responses": {
                "200": _json({"oneOf": [_ref("Comment"), _ref("AuthorsComment")]}),
                **_errors(401, 404, 503),
            },
        },
        "options": {
            "summary": "CORS preflight.",
            "responses": {"204": {"description": "OK"}, **_errors(404)},
        },
    },
    "/v1/comments/{comment}/reports": {
        "parameters": [_COMMENT_PARAM],
        "post": {
            "summary": "A reader reports a published comment (once per reader); past the "
            "site's report_threshold it goes back to the moderators' queue.",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {"reason": _text(500)},
                    "additionalProperties": False,
                }
            ),
            "responses": {
                "202": _json({"type": "object"}, "Recorded (or already recorded)"),
                **_errors(400, 404, 413, 415, 422, 503),
            },
        },
        "options": {
            "summary": "CORS preflight.",
            "responses": {"204": {"description": "OK"}, **_errors(404)},
        },
    },
    "/v1/comments/{comment}/decision": {
        "parameters": [_COMMENT_PARAM],
        "post": {
            "summary": "Approve or reject one comment.",
            "security": _BEARER,
            "requestBody": _body(_ref("Decision")),
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 404, 415, 422)},
        },
    },
    "/v1/decisions": {
        "post": {
            "summary": "Approve or reject many comments at once.",
            "security": _BEARER,
            "requestBody": _body(_ref("BulkDecision")),
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 415, 422)},
        },
    },
    "/v1/comments/{comment}/audit": {
        "parameters": [_COMMENT_PARAM],
        "get": {
            "summary": "A comment's history: every status change, who, why, when.",
            "security": _BEARER,
            "responses": {"200": _json(_page({"type": "object"})), **_errors(401, 404)},
        },
    },
    "/v1/queue": {
        "get": {
            "summary": "The moderators' queue, keyset-paginated.",
            "security": _BEARER,
            "parameters": [
                {"name": "site", "in": "query", "schema": _SLUG},
                {"name": "article", "in": "query", "schema": _ARTICLE},
                {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                {"name": "order", "in": "query", "schema": {"enum": ["oldest", "score"]}},
                {"name": "label", "in": "query", "schema": {"enum": list(DETOXIFY_LABELS)}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": _LIMIT_200},
            ],
            "responses": {"200": _json(_page(_ref("Comment"))), **_errors(401, 404, 422)},
        },
    },
    "/v1/sites/{site}": {
        "parameters": [_SITE_PARAM],
        "put": {
            "summary": "Create or update a site, its allowed origins and its policy (admin).",
            "security": _BEARER,
            "requestBody": _body(_ref("SitePut")),
            "responses": {
                "200": _json(_ref("Site")),
                "201": _json(_ref("Site"), "Created"),
                **_errors(400, 401, 403, 415, 422),
            },
        },
        "get": {
            "summary": "A site and its policy.",
            "security": _BEARER,
            "responses": {"200": _json(_ref("Site")), **_errors(401, 404)},
        },
    },
    "/v1/sites/{site}/articles/{article}/policy": {
        "parameters": [_SITE_PARAM, _ARTICLE_PARAM],
        "put": {
            "summary": "Override the site's policy for one article, optionally until a time.",
            "security": _BEARER,
            "requestBody": _body(_ref("ArticlePolicy")),
            "responses": {
                "200": _json({"type": "object"}),
                **_errors(400, 401, 403, 404, 415, 422),
            },
        },
    },
    "/healthz": {
        "get": {"summary": "The process is up.", "responses": {"200": _json({"type": "object"})}}
    },
    "/v1/openapi.json": {
        "get": {"summary": "This document.", "responses": {"200": _json({"type": "object"})}}
    },
    **_WEBHOOK_PATHS,
    **_PAGE_PATHS,
    **_STAFF_PATHS,
}


def _empty_query_values_allowed(paths: dict[str, Any]) -> dict[str, Any]:
    """Every handler reads an empty query value (``?site=``, as HTML forms send) as one left
    out: say so (``allowEmptyValue``) on every optional query parameter."""

    def allow(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**p, "allowEmptyValue": True}
            if p.get("in") == "query" and not p.get("required")
            else p
            for p in parameters
        ]

    described: dict[str, Any] = {}
    for path, item in paths.items():
        described[path] = {
            key: allow(value)
            if key == "parameters"
            else {**value, "parameters": allow(value["parameters"])}
            if isinstance(value, dict) and "parameters" in value
            else value
            for key, value in item.items()
        }
    return described


SPEC: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "replyguard",
        "version": "1",
        "description": "Comment moderation for news sites. Errors are application/problem+json. "
        "Operators' /readyz and /metrics are not on this listener: they are served on the "
        "operations listener (REPLYGUARD_OPS_HOST:REPLYGUARD_OPS_PORT, 127.0.0.1:8081 by "
        "default).",
    },
    "paths": _empty_query_values_allowed(PATHS),
    "components": {
        "schemas": {**SCHEMAS, **_WEBHOOK_SCHEMAS, **_STAFF_SCHEMAS},
        "responses": {
            "Problem": {
                "description": "An error, with the fields that were wrong",
                "content": {"application/problem+json": {"schema": _ref("Problem")}},
            }
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Moderator or admin token",
            },
            "authorToken": {"type": "http", "scheme": "bearer", "description": "author_token"},
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "rg_session",
                "description": "The moderator page's session; reads need only the cookie, "
                "every change also sends the page's CSRF token as X-CSRF-Token",
            },
        },
    },
}


async def handler(request: web.Request) -> web.Response:
    return web.json_response(SPEC)
