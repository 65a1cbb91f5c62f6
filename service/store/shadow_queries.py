"""The SQL behind shadow models: storing their scores beside the live model's, reading them
back for a comment, the models the workers run, and the figures GET /v1/models shows.

``service.store.shadows`` runs these; nothing else does.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text

# A batch of one shadow model's scores, each with the verdict the comment's policy gives on
# them. A comment deleted meanwhile is left out rather than failing the batch on its foreign
# key; one this model already scored (its job ran twice, or the model is also live) keeps
# the row it has.
INSERT_SHADOW_SCORES: Final[TextClause] = text(
    """
    INSERT INTO comment_scores
        (comment_id, model_name, model_version, scores, role, verdict, score_ms)
    SELECT s.comment_id, :model_name, :model_version, s.scores, :role, s.verdict, :score_ms
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s (comment_id uuid, scores jsonb,
                                                          verdict text)
    WHERE EXISTS (SELECT 1 FROM comments c WHERE c.id = s.comment_id)
    ON CONFLICT DO NOTHING
    """
)

SHADOW_SCORES_OF_COMMENT: Final[TextClause] = text(
    """
    SELECT model_name, model_version, scores FROM comment_scores
    WHERE comment_id = :comment_id AND role = 'shadow'
    ORDER BY model_name, model_version
    """
)

# The live models of the workers that reported lately, with how many run each.
LIVE_MODELS: Final[TextClause] = text(
    """
    SELECT model_name, model_version, count(*) AS workers FROM workers
    WHERE model_name IS NOT NULL
      AND heartbeat_at > now() - make_interval(secs => :stale_seconds)
    GROUP BY model_name, model_version
    ORDER BY model_name, model_version
    """
)

# The shadow models of the workers that reported lately (service.queue.shadows writes each
# worker's list with its heartbeat), alike ones added up across workers.
SHADOW_MODELS: Final[TextClause] = text(
    """
    SELECT m ->> 'spec' AS spec, m ->> 'state' AS state, m ->> 'model_name' AS model_name,
           m ->> 'model_version' AS model_version, m ->> 'error' AS error,
           count(*) AS workers,
           sum((m ->> 'scored')::bigint) AS scored,
           sum((m ->> 'failures')::bigint) AS failures,
           sum((m ->> 'skipped')::bigint) AS skipped
    FROM workers w CROSS JOIN LATERAL jsonb_array_elements(w.shadow_models) AS m
    WHERE w.heartbeat_at > now() - make_interval(secs => :stale_seconds)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    """
)

# Every shadow score on the sites asked for (null: every site), with what the live model
# decided (its audit row out of pending; none when a moderator came first) and its highest
# score, and the moderators' last word (their latest approval or rejection).
_JUDGEMENTS: Final = """
    SELECT c.site_id, s.model_name, s.model_version, s.verdict, s.scores, s.score_ms,
           s.created_at, c.max_score AS live_score, live.to_status AS live_verdict,
           moderator.to_status AS moderator_verdict
    FROM comment_scores s
    JOIN comments c ON c.id = s.comment_id
    LEFT JOIN LATERAL (
        SELECT a.to_status FROM audit_log a
        WHERE a.comment_id = s.comment_id AND a.actor_kind = 'model'
          AND a.from_status = 'pending'
        ORDER BY a.id LIMIT 1
    ) live ON true
    LEFT JOIN LATERAL (
        SELECT a.to_status FROM audit_log a
        WHERE a.comment_id = s.comment_id AND a.actor_kind = 'moderator'
          AND a.to_status IN ('approved', 'rejected')
        ORDER BY a.id DESC LIMIT 1
    ) moderator ON true
    WHERE s.role = 'shadow'
      AND (CAST(:sites AS text[]) IS NULL OR c.site_id = ANY(CAST(:sites AS text[])))
"""

# Per site and shadow model: how many comments it scored, its milliseconds per comment,
# its verdicts, and how often they match the live model's.
SHADOW_FIGURES: Final[TextClause] = text(
    f"""
    SELECT site_id, model_name, model_version, count(*) AS comments,
           avg(score_ms) AS ms_per_comment,
           count(*) FILTER (WHERE verdict = 'approved') AS approved,
           count(*) FILTER (WHERE verdict = 'held') AS held,
           count(*) FILTER (WHERE verdict = 'rejected') AS rejected,
           count(live_verdict) AS compared_with_live,
           count(*) FILTER (WHERE verdict = live_verdict) AS agreeing_with_live,
           min(created_at) AS first_scored_at, max(created_at) AS last_scored_at
    FROM ({_JUDGEMENTS}) j
    GROUP BY site_id, model_name, model_version
    ORDER BY site_id, model_name, model_version
    """
)

# The comments of those a moderator approved or rejected, one by one: ROC-AUC needs each
# score. Moderators' decisions are few beside the comments scored.
MODERATED_SHADOW_SCORES: Final[TextClause] = text(
    f"""
    SELECT site_id, model_name, model_version, verdict, scores, live_verdict, live_score,
           moderator_verdict
    FROM ({_JUDGEMENTS}) j
    WHERE moderator_verdict IS NOT NULL
    """
)


# `replyguard rescore`: a site's decided comments created in [since, until), oldest first,
# a page after the keyset (created_at, id), by comments' (site_id, status, created_at, id)
# index: an offline analysis, run by hand, so a scan of the site's statuses is fine.
PAST_COMMENTS: Final[TextClause] = text(
    """
    SELECT id, created_at FROM comments
    WHERE site_id = :site_id AND status <> 'pending'
      AND created_at >= :since AND created_at < :until
      AND (CAST(:after_at AS timestamptz) IS NULL
           OR (created_at, id) > (:after_at, CAST(:after_id AS uuid)))
    ORDER BY created_at, id
    LIMIT :limit
    """
)

COUNT_PAST_COMMENTS: Final[TextClause] = text(
    """
    SELECT count(*) FROM comments
    WHERE site_id = :site_id AND status <> 'pending'
      AND created_at >= :since AND created_at < :until
    """
)
