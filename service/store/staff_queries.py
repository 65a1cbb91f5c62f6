"""The SQL behind staff access: listing and revoking API tokens, listing, disabling and
enabling users, the staff audit trail, and the site check the CLI makes before it grants
access. Each statement is named and says why it is shaped so.

``service.store.staff`` runs these (and ``TokenStore``/``UserStore`` write the audit row
when they create); nothing else does.

``:scope`` is the caller's sites: null for an admin of every site, who sees everything;
otherwise only tokens and users whose every site lies within it, so an admin of one site
never sees or touches an all-sites admin, nor a moderator who also covers another site.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text


def _in_scope(sites: str) -> str:
    """The condition that the ``sites`` column lies within ``:scope``."""
    return (
        f"(CAST(:scope AS text[]) IS NULL"
        f" OR ({sites} IS NOT NULL AND {sites} <@ CAST(:scope AS text[])))"
    )


# --- tokens -----------------------------------------------------------------------------

# Never the hash: a listing says which tokens exist, not how to use one.
LIST_TOKENS: Final[TextClause] = text(
    f"""
    SELECT id, role, sites, label, created_at, last_used_at, revoked_at
    FROM api_tokens WHERE {_in_scope("sites")}
    ORDER BY id
    """
)

# Locks the row so two revocations of one token write one audit row between them.
LOCK_TOKEN: Final[TextClause] = text(
    f"""
    SELECT id, role, sites, label, created_at, last_used_at, revoked_at
    FROM api_tokens WHERE id = :token_id AND {_in_scope("sites")}
    FOR UPDATE
    """
)

# The token is checked at every request (TokenStore.principal), so this refuses it at once.
REVOKE_TOKEN: Final[TextClause] = text(
    """
    UPDATE api_tokens SET revoked_at = now() WHERE id = :token_id
    RETURNING id, role, sites, label, created_at, last_used_at, revoked_at
    """
)

# --- users ------------------------------------------------------------------------------

# last_seen_at: the latest use of any of the user's sessions, ended or not.
_USER_COLUMNS: Final = """
    u.id, u.name, u.role, u.sites, u.created_at, u.updated_at, u.disabled_at,
    (SELECT max(s.last_seen_at) FROM user_sessions s WHERE s.user_id = u.id) AS last_seen_at
"""

LIST_USERS: Final[TextClause] = text(
    f"SELECT {_USER_COLUMNS} FROM users u WHERE {_in_scope('u.sites')} ORDER BY u.name"
)

LOCK_USER: Final[TextClause] = text(
    f"""
    SELECT {_USER_COLUMNS} FROM users u
    WHERE u.name = :name AND {_in_scope("u.sites")}
    FOR UPDATE OF u
    """
)

# Sign-in (FIND_USER) and every session lookup (RESOLVE_SESSION) read disabled_at, and
# the caller deletes the user's sessions in the same transaction.
SET_USER_DISABLED: Final[TextClause] = text(
    """
    UPDATE users
    SET disabled_at = CASE WHEN CAST(:disabled AS boolean) THEN now() END, updated_at = now()
    WHERE id = :user_id
    """
)

# --- the staff audit trail ----------------------------------------------------------------

INSERT_STAFF_AUDIT: Final[TextClause] = text(
    """
    INSERT INTO staff_audit (action, target, sites, actor)
    VALUES (:action, :target, :sites, :actor)
    """
)

# Newest first; a scoped admin sees the changes to tokens and users within their sites.
LIST_STAFF_AUDIT: Final[TextClause] = text(
    f"""
    SELECT id, action, target, sites, actor, created_at FROM staff_audit
    WHERE {_in_scope("sites")}
    ORDER BY id DESC LIMIT :limit
    """
)

# --- sites --------------------------------------------------------------------------------

# The asked-for site ids that name no site, in the order given.
MISSING_SITES: Final[TextClause] = text(
    """
    SELECT wanted.id FROM unnest(CAST(:sites AS text[])) WITH ORDINALITY AS wanted (id, n)
    WHERE NOT EXISTS (SELECT 1 FROM sites s WHERE s.id = wanted.id)
    ORDER BY wanted.n
    """
)

# A few site ids, to say which exist when one asked for does not.
SOME_SITE_IDS: Final[TextClause] = text("SELECT id FROM sites ORDER BY id LIMIT 20")
