"""The SQL behind the moderator's page: users, sessions, sign-in slow-down, claims, the
live queue, the policy preview and calibration. Each statement is named and says why it is
shaped so.

``service.store.review`` runs these; nothing else does. The comment columns and the shape of
a queue page are the ones ``service.store.queries`` uses, so the two queues read alike.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text

# --- users ------------------------------------------------------------------------------

# create-user makes a user or, for a name that exists, replaces its password, role and
# sites (and re-enables it): one command for "add Ann" and "reset Ann's password".
UPSERT_USER: Final[TextClause] = text(
    """
    INSERT INTO users AS u (name, password_hash, role, sites)
    VALUES (:name, :password_hash, :role, :sites)
    ON CONFLICT (name) DO UPDATE SET
        password_hash = EXCLUDED.password_hash,
        role = EXCLUDED.role,
        sites = EXCLUDED.sites,
        disabled_at = NULL,
        updated_at = now()
    RETURNING id, (xmax = 0) AS created
    """
)

FIND_USER: Final[TextClause] = text(
    """
    SELECT id, name, password_hash, role, sites FROM users
    WHERE name = :name AND disabled_at IS NULL
    """
)

# argon2's parameters may be raised later; a successful sign-in stores the new hash.
UPDATE_PASSWORD_HASH: Final[TextClause] = text(
    "UPDATE users SET password_hash = :password_hash, updated_at = now() WHERE id = :user_id"
)

# --- sessions ---------------------------------------------------------------------------

INSERT_SESSION: Final[TextClause] = text(
    """
    INSERT INTO user_sessions (id_hash, user_id, expires_at, user_agent, remote)
    VALUES (:id_hash, :user_id, now() + make_interval(secs => :max_seconds), :user_agent,
            :remote)
    """
)

# One round trip resolves the cookie and, for a request the person made (not the page's
# background poll), marks the session used. The mark is written at most every 15 seconds,
# so a busy moderator does not cost a write per click.
RESOLVE_SESSION: Final[TextClause] = text(
    """
    WITH live AS (
        SELECT s.id_hash, s.expires_at, s.last_seen_at, u.id AS user_id, u.name, u.role,
               u.sites
        FROM user_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id_hash = :id_hash AND u.disabled_at IS NULL
          AND s.expires_at > now()
          AND s.last_seen_at > now() - make_interval(secs => :idle_seconds)
    ),
    touched AS (
        UPDATE user_sessions SET last_seen_at = now()
        WHERE id_hash = (SELECT id_hash FROM live) AND CAST(:touch AS boolean)
          AND last_seen_at < now() - interval '15 seconds'
    )
    SELECT user_id, name, role, sites, expires_at, last_seen_at FROM live
    """
)

DELETE_SESSION: Final[TextClause] = text("DELETE FROM user_sessions WHERE id_hash = :id_hash")

# A new password ends every session of that user.
DELETE_USER_SESSIONS: Final[TextClause] = text("DELETE FROM user_sessions WHERE user_id = :user_id")

# Run at each sign-in, so dead sessions never pile up without a separate janitor.
PURGE_SESSIONS: Final[TextClause] = text(
    """
    DELETE FROM user_sessions
    WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => :idle_seconds)
    """
)

# --- sign-in slow-down ------------------------------------------------------------------

# The latest time any of the keys (the name tried, the client's address) is blocked until.
SIGN_IN_BLOCKED_UNTIL: Final[TextClause] = text(
    """
    SELECT max(blocked_until) FROM sign_in_failures
    WHERE key = ANY(CAST(:keys AS text[])) AND blocked_until > now()
    """
)

# Failures count within a window; a key quiet for longer than it starts again from one.
RECORD_SIGN_IN_FAILURE: Final[TextClause] = text(
    """
    INSERT INTO sign_in_failures AS f (key, failures) VALUES (:key, 1)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN f.last_failed_at < now() - make_interval(secs => :window_seconds)
                        THEN 1 ELSE f.failures + 1 END,
        last_failed_at = now()
    RETURNING failures
    """
)

BLOCK_SIGN_IN: Final[TextClause] = text(
    """
    UPDATE sign_in_failures SET blocked_until = now() + make_interval(secs => :seconds)
    WHERE key = :key
    RETURNING blocked_until
    """
)

CLEAR_SIGN_IN_FAILURES: Final[TextClause] = text("DELETE FROM sign_in_failures WHERE key = :key")

# --- claims -----------------------------------------------------------------------------

# Claim a comment for an actor: in one statement, drop the actor's other claims (one at a
# time: the comment they have open) and long-lapsed claims of anyone, then take the claim
# unless someone else holds a live one. The row comes back only when the claim is ours;
# otherwise the store reads who holds it in a fresh statement, which also sees a claim
# another moderator committed a moment ago.
CLAIM: Final[TextClause] = text(
    """
    WITH released AS (
        DELETE FROM review_claims
        WHERE comment_id <> :comment_id
          AND (actor = :actor OR expires_at < now() - interval '1 hour')
    )
    INSERT INTO review_claims AS r (comment_id, site_id, actor, expires_at)
    VALUES (:comment_id, :site_id, :actor, now() + make_interval(secs => :seconds))
    ON CONFLICT (comment_id) DO UPDATE SET
        actor = EXCLUDED.actor,
        claimed_at = CASE WHEN r.actor = EXCLUDED.actor THEN r.claimed_at ELSE now() END,
        expires_at = EXCLUDED.expires_at
    WHERE r.actor = EXCLUDED.actor OR r.expires_at <= now()
    RETURNING comment_id, actor, claimed_at, expires_at
    """
)

GET_CLAIM: Final[TextClause] = text(
    """
    SELECT comment_id, actor, claimed_at, expires_at FROM review_claims
    WHERE comment_id = :comment_id AND expires_at > now()
    """
)

RELEASE_CLAIM: Final[TextClause] = text(
    "DELETE FROM review_claims WHERE comment_id = :comment_id AND actor = :actor"
)

LIVE_CLAIMS: Final[TextClause] = text(
    """
    SELECT comment_id, actor, claimed_at, expires_at FROM review_claims
    WHERE expires_at > now()
      AND (CAST(:sites AS text[]) IS NULL OR site_id = ANY(CAST(:sites AS text[])))
    ORDER BY comment_id
    LIMIT 1000
    """
)

# --- the live queue ---------------------------------------------------------------------

SERVER_NOW: Final[TextClause] = text("SELECT clock_timestamp()")

# Status changes since a time, newest state of each comment alongside. audit_log ids are
# handed out before commit, so a cursor on ids could skip a slow transaction's row; the
# caller asks from a little before its last poll instead and drops what it has seen.
CHANGES_SINCE: Final[TextClause] = text(
    """
    SELECT l.id AS audit_id, l.comment_id, l.site_id, c.article_id, l.from_status,
           l.to_status, c.status AS current_status, l.actor_kind, l.actor, l.created_at
    FROM audit_log l JOIN comments c ON c.id = l.comment_id
    WHERE l.created_at > :since
      AND (CAST(:sites AS text[]) IS NULL OR l.site_id = ANY(CAST(:sites AS text[])))
    ORDER BY l.id
    LIMIT :limit
    """
)

# Counts per status: the waiting ones (pending, held) in full, with the age of the oldest;
# the decided ones over the last day, as a measure of the day's work. Each arm reads the
# (site_id, status, created_at) index.
QUEUE_SUMMARY: Final[TextClause] = text(
    """
    SELECT c.status, count(*) AS n,
           EXTRACT(EPOCH FROM now() - min(c.created_at)) AS oldest_seconds
    FROM comments c
    WHERE (CAST(:sites AS text[]) IS NULL OR c.site_id = ANY(CAST(:sites AS text[])))
      AND (CAST(:article_id AS text) IS NULL OR c.article_id = CAST(:article_id AS text))
      AND (c.status IN ('pending', 'held')
           OR (c.status IN ('approved', 'rejected')
               AND c.created_at > now() - interval '24 hours'))
    GROUP BY c.status
    """
)

# The articles with the most comments waiting in one status: the article filter's choices.
WAITING_ARTICLES: Final[TextClause] = text(
    """
    SELECT c.site_id, c.article_id, a.title, count(*) AS waiting,
           EXTRACT(EPOCH FROM now() - min(c.created_at)) AS oldest_seconds
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE c.status = :status
      AND (CAST(:sites AS text[]) IS NULL OR c.site_id = ANY(CAST(:sites AS text[])))
    GROUP BY c.site_id, c.article_id, a.title
    ORDER BY waiting DESC, c.site_id, c.article_id
    LIMIT 50
    """
)

# Sites for the page's site filter: those the person covers.
LIST_SITES: Final[TextClause] = text(
    """
    SELECT id, name FROM sites
    WHERE CAST(:sites AS text[]) IS NULL OR id = ANY(CAST(:sites AS text[]))
    ORDER BY id
    LIMIT 500
    """
)

# --- policy preview ---------------------------------------------------------------------

# The site's most recent scored and decided comments, to re-run a proposed policy on
# their stored scores. Comments of articles with a live override are left out: the site
# policy is not what decides them.
RECENT_DECIDED: Final[TextClause] = text(
    """
    SELECT c.id, c.body, c.status, c.scores, c.explanation->'model' AS model
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE c.site_id = :site_id AND c.status <> 'pending' AND c.scores IS NOT NULL
      AND (a.policy_override IS NULL
           OR (a.override_until IS NOT NULL AND a.override_until <= now()))
    ORDER BY c.created_at DESC, c.id DESC
    LIMIT :limit
    """
)

# --- calibration ------------------------------------------------------------------------

# The moderators' final word on comments the model held, newest first: calibration's truth
# (moderation.calibration). Read from the audit log, newest first, so the LIMIT stops the
# walk through the site's (site_id, created_at) index early:
#   l        a moderator's approval or rejection ...
#   later    ... that is the moderators' last word on it (a decision reversed later counts
#            as the reversal) ...
#   c.status ... and still stands (not sent back to the queue by reports, not erased) ...
#   held     ... on a comment the model held: what the model rejected or published never
#            reached a moderator the same way.
# The scores are the ones the decision was made with (comments keep the deciding model's).
MODERATOR_DECISIONS: Final[TextClause] = text(
    """
    SELECT c.scores, l.to_status = 'rejected' AS rejected, c.explanation->'model' AS model
    FROM audit_log l JOIN comments c ON c.id = l.comment_id
    WHERE l.site_id = :site_id AND l.actor_kind = 'moderator'
      AND l.to_status IN ('approved', 'rejected')
      AND c.status = l.to_status AND c.scores IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM audit_log later
          WHERE later.comment_id = l.comment_id AND later.id > l.id
            AND later.actor_kind = 'moderator'
      )
      AND EXISTS (
          SELECT 1 FROM audit_log held
          WHERE held.comment_id = l.comment_id AND held.actor_kind = 'model'
            AND held.to_status = 'held'
      )
    ORDER BY l.created_at DESC, l.id DESC
    LIMIT :limit
    """
)
