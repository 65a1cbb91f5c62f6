"""The SQL that reads what a site's moderators decided, for learning from it (a candidate
model trained on a site's decisions). ``service.store.decisions`` runs these; nothing else
does."""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text

# Each comment's latest moderator action on the site, kept when it approved or rejected:
#   latest     a moderator who reversed a decision meant the reversal; audit ids follow the
#              order the comment's changes were made in (deciding locks the comment)
#   moderator  the model's and the system's moves (a reader's reports re-holding a comment,
#              an erasure) are not a moderator's judgement, so they neither count nor hide one
#   body       an erased comment (its body emptied) teaches nothing and must not be learned
# The newest :limit by the time they were decided; the site's audit rows are found by
# audit_log_site_time_idx. An offline command's read, so one pass over the site's rows is fine.
SITE_DECISIONS: Final[TextClause] = text(
    """
    SELECT d.comment_id, c.body, d.to_status AS verdict, d.created_at AS decided_at
    FROM (
        SELECT DISTINCT ON (l.comment_id) l.comment_id, l.to_status, l.created_at
        FROM audit_log l
        WHERE l.site_id = :site_id AND l.actor_kind = 'moderator'
        ORDER BY l.comment_id, l.id DESC
    ) d
    JOIN comments c ON c.id = d.comment_id
    WHERE d.to_status IN ('approved', 'rejected') AND c.body <> ''
    ORDER BY d.created_at DESC, d.comment_id DESC
    LIMIT :limit
    """
)
