"""Turning rows into domain values, and the few encodings every store shares (JSON for
jsonb parameters, token hashes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from moderation.domain import (
    ActorKind,
    Comment,
    CommentId,
    Status,
)
from moderation.policy import Policy
from service.store import queries as q
from service.store.values import Site


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def comment_from_row(row: Row[Any]) -> Comment:
    m = row._mapping
    return Comment(
        id=CommentId(m["id"]),
        site_id=m["site_id"],
        article_id=m["article_id"],
        parent_id=CommentId(m["parent_id"]) if m["parent_id"] else None,
        body=m["body"],
        author_name=m["author_name"],
        author_email=m["author_email"],
        status=m["status"],
        created_at=m["created_at"],
        status_changed_at=m["status_changed_at"],
        status_reason=m["status_reason"],
        scores=m["scores"],
        explanation=m["explanation"],
        article_title=m["article_title"],
        article_url=m["article_url"],
        author_id=m.get("author_id"),
        author_verified=bool(m.get("author_verified", False)),
    )


def site_from_row(row: Row[Any]) -> Site:
    m = row._mapping
    return Site(
        id=m["id"],
        name=m["name"],
        allowed_origins=tuple(m["allowed_origins"]),
        policy=Policy.from_json(m["policy"], version=m["policy_version"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        sso_secret=m.get("sso_secret"),
        sso_rotated_at=m.get("sso_rotated_at"),
    )


async def change_status(
    conn: AsyncConnection,
    *,
    comment_id: UUID,
    site_id: str,
    from_status: Status | None,
    to_status: Status,
    actor_kind: ActorKind,
    actor: str,
    reason: str | None,
    explanation: Mapping[str, Any] | None = None,
    update_comment: bool = True,
) -> None:
    """Record a status change: the comment, its audit row and its outbox event, together."""
    if update_comment:
        await conn.execute(
            q.SET_STATUS, {"comment_id": comment_id, "status": to_status, "reason": reason}
        )
    await conn.execute(
        q.INSERT_AUDIT,
        {
            "comment_id": comment_id,
            "site_id": site_id,
            "from_status": from_status,
            "to_status": to_status,
            "actor_kind": actor_kind,
            "actor": actor,
            "reason": reason,
            "explanation": None if explanation is None else dumps(explanation),
        },
    )
    if to_status != "pending":
        await conn.execute(
            q.INSERT_OUTBOX,
            {
                "event_type": f"comment.{to_status}",
                "site_id": site_id,
                "comment_id": comment_id,
                "payload": dumps(
                    {
                        "comment_id": str(comment_id),
                        "site_id": site_id,
                        "from_status": from_status,
                        "status": to_status,
                        "by": {"kind": actor_kind, "name": actor},
                        "reason": reason,
                        "explanation": explanation,
                    }
                ),
            },
        )
