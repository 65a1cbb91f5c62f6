"""SQL of ``service.store.promotions``: model promotions and rollbacks, per site or for all."""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text

# Promotions of one scope never interleave: the change reads the scope's newest row and
# writes the next, under a transaction-scoped advisory lock on the scope.
LOCK_SCOPE: Final[TextClause] = text(
    "SELECT pg_advisory_xact_lock(hashtext('replyguard:model:' || :scope))"
)

SITE_EXISTS: Final[TextClause] = text("SELECT 1 FROM sites WHERE id = :site_id")

# The newest row of one scope (site_id null: every site).
SCOPE_NEWEST: Final[TextClause] = text(
    """
    SELECT id, site_id, model, previous, action, actor, created_at
    FROM model_promotions
    WHERE coalesce(site_id, '') = coalesce(CAST(:site_id AS text), '')
    ORDER BY id DESC LIMIT 1
    """
)

INSERT_PROMOTION: Final[TextClause] = text(
    """
    INSERT INTO model_promotions (site_id, model, previous, action, actor)
    VALUES (:site_id, :model, :previous, :action, :actor)
    RETURNING id, site_id, model, previous, action, actor, created_at
    """
)

# The model in force per scope: each scope's newest row, where it names a model. The
# workers run this every few seconds; one index scan per scope.
IN_FORCE: Final[TextClause] = text(
    """
    SELECT DISTINCT ON (coalesce(site_id, '')) id, site_id, model, previous, action, actor,
           created_at
    FROM model_promotions
    ORDER BY coalesce(site_id, ''), id DESC
    """
)

# Sites an every-site promotion reaches: those without a model promoted for themselves.
SITES_FOLLOWING_ALL: Final[TextClause] = text(
    """
    SELECT s.id FROM sites s
    WHERE NOT EXISTS (
        SELECT 1 FROM model_promotions p
        WHERE p.site_id = s.id AND p.model IS NOT NULL
          AND p.id = (SELECT max(id) FROM model_promotions q WHERE q.site_id = s.id)
    )
    ORDER BY s.id
    """
)

# Newest first; :sites null: every scope; else those sites' rows and the every-site rows.
HISTORY: Final[TextClause] = text(
    """
    SELECT id, site_id, model, previous, action, actor, created_at
    FROM model_promotions
    WHERE CAST(:sites AS text[]) IS NULL OR site_id IS NULL
       OR site_id = ANY (CAST(:sites AS text[]))
    ORDER BY id DESC
    LIMIT :limit
    """
)

# Each live worker's report of its promoted models (service.queue.live_models).
WORKER_PROMOTED: Final[TextClause] = text(
    """
    SELECT id, promoted_models FROM workers
    WHERE heartbeat_at > now() - make_interval(secs => :stale_after)
    ORDER BY id
    """
)

INSERT_EVENT: Final[TextClause] = text(
    """
    INSERT INTO outbox (event_type, site_id, payload)
    VALUES ('model.promoted', :site_id, CAST(:payload AS jsonb))
    """
)
