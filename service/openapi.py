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


_SITE_PARAM: Final = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
_ARTICLE_PARAM: Final = {
    "name": "article",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
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
            "blocked_terms": {"type": "array", "items": {"type": "string"}},
            "watched_terms": {"type": "array", "items": {"type": "string"}},
            "max_links": {"type": ["integer", "null"], "minimum": 0},
        },
        "additionalProperties": False,
    },
    "SitePut": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "allowed_origins": {"type": "array", "items": {"type": "string"}},
            "policy": _ref("Policy"),
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
            "body": {"type": "string", "minLength": 1},
            "author_name": {"type": "string", "minLength": 1},
            "author_email": {"type": "string", "format": "email"},
            "parent_id": {"type": "string", "format": "uuid"},
            "article_url": {"type": "string", "format": "uri"},
            "article_title": {"type": "string"},
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
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "parent_id": {"type": ["string", "null"]},
            "author_name": {"type": "string"},
            "body": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "replies": {"type": "array", "items": _ref("ThreadItem")},
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
            "reason": {"type": "string", "maxLength": 500},
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
            "reason": {"type": "string", "maxLength": 500},
        },
        "additionalProperties": False,
    },
    "ArticlePolicy": {
        "type": "object",
        "properties": {
            "policy_override": {"oneOf": [_ref("Policy"), {"type": "null"}]},
            "until": {"type": "string", "format": "date-time"},
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


PATHS: Final[dict[str, Any]] = {
    "/v1/sites/{site}/articles/{article}/comments": {
        "parameters": [_SITE_PARAM, _ARTICLE_PARAM],
        "post": {
            "summary": "Submit a comment or reply; answered at once, scored later.",
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
            ],
            "requestBody": _body(_ref("NewComment")),
            "responses": {
                "202": _json(_ref("Accepted"), "Accepted and queued for scoring"),
                **_errors(400, 404, 413, 415, 422, 503),
            },
        },
        "get": {
            "summary": "The approved thread, replies nested, a page of top-level comments.",
            "parameters": [
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
            ],
            "responses": {"200": _json(_page(_ref("ThreadItem"))), **_errors(404, 422, 503)},
        },
        "options": {"summary": "CORS preflight.", "responses": {"204": {"description": "OK"}}},
    },
    "/v1/comments/{comment}": {
        "parameters": [_COMMENT_PARAM],
        "get": {
            "summary": "A comment: its status for its author (author_token), all of it "
            "for a moderator of its site.",
            "security": [{"bearer": []}, {"authorToken": []}],
            "responses": {"200": _json(_ref("Comment")), **_errors(401, 404, 503)},
        },
        "options": {"summary": "CORS preflight.", "responses": {"204": {"description": "OK"}}},
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
                {"name": "site", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                {"name": "order", "in": "query", "schema": {"enum": ["oldest", "score"]}},
                {"name": "label", "in": "query", "schema": {"enum": list(DETOXIFY_LABELS)}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}},
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
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 403, 404, 422)},
        },
    },
    "/healthz": {
        "get": {"summary": "The process is up.", "responses": {"200": _json({"type": "object"})}}
    },
    "/readyz": {
        "get": {
            "summary": "Database reachable, schema applied, a scorer live.",
            "responses": {
                "200": _json({"type": "object"}),
                "503": _json({"type": "object"}, "Not ready"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics.",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/v1/openapi.json": {
        "get": {"summary": "This document.", "responses": {"200": _json({"type": "object"})}}
    },
}

SPEC: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "replyguard",
        "version": "1",
        "description": "Comment moderation for news sites. Errors are application/problem+json.",
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
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
        },
    },
}


async def handler(request: web.Request) -> web.Response:
    return web.json_response(SPEC)
