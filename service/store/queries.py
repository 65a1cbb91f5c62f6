"""Every SQL statement replyguard runs, each named and saying why it is shaped as it is.

Changing a query means opening this file. Stores (``service.store.comments``) run these and turn
rows into domain objects; nothing else in the service writes SQL.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text

# --- sites and articles -----------------------------------------------------------------

GET_SITE: Final[TextClause] = text(
    """
    SELECT id, name, allowed_origins, policy, policy_version, created_at, updated_at,
           sso_secret, sso_rotated_at
    FROM sites WHERE id = :site_id
    """
)

# Taken before UPSERT_SITE in its transaction: a concurrent change of the site waits, so
# the upsert's fresh snapshot holds the policy it really replaces. (Locking inside the
# upsert's own statement cannot do this: its CTEs share one snapshot, and a row the
# statement itself updates is not locked but skipped.)
LOCK_SITE: Final[TextClause] = text("SELECT 1 FROM sites WHERE id = :site_id FOR UPDATE")

# Insert or update; the policy version only grows when the policy itself changes, so
# re-sending the same site does not make past decisions look stale. A new version (or a
# new site) writes its policy audit row in the same statement:
#   before  the policy being replaced (LOCK_SITE keeps it from changing meanwhile)
#   audit   only when the version moved (a created site's previous is null)
UPSERT_SITE: Final[TextClause] = text(
    """
    WITH before AS (
        SELECT policy, policy_version FROM sites WHERE id = :site_id
    ),
    site AS (
        INSERT INTO sites AS s (id, name, allowed_origins, policy)
        VALUES (:site_id, :name, :origins, CAST(:policy AS jsonb))
        ON CONFLICT (id) DO UPDATE SET
            name = EXCLUDED.name,
            allowed_origins = EXCLUDED.allowed_origins,
            policy = EXCLUDED.policy,
            policy_version = s.policy_version
                + CASE WHEN s.policy = EXCLUDED.policy THEN 0 ELSE 1 END,
            updated_at = now()
        RETURNING id, name, allowed_origins, policy, policy_version, created_at, updated_at,
                  sso_secret, sso_rotated_at, (xmax = 0) AS created
    ),
    audit AS (
        INSERT INTO site_policy_audit (site_id, policy_version, policy, previous, reason, actor)
        SELECT site.id, site.policy_version, site.policy, before.policy, :reason, :actor
        FROM site LEFT JOIN before ON true
        WHERE before.policy_version IS DISTINCT FROM site.policy_version
    )
    SELECT * FROM site
    """
)

# A site's policy changes, newest first.
POLICY_HISTORY: Final[TextClause] = text(
    """
    SELECT policy_version, reason, actor, created_at FROM site_policy_audit
    WHERE site_id = :site_id
    ORDER BY id DESC
    LIMIT :limit
    """
)

UPSERT_ARTICLE_OVERRIDE: Final[TextClause] = text(
    """
    INSERT INTO articles AS a (site_id, id, policy_override, override_until, override_version)
    VALUES (:site_id, :article_id, CAST(:override AS jsonb), :until, 1)
    ON CONFLICT (site_id, id) DO UPDATE SET
        policy_override = EXCLUDED.policy_override,
        override_until = EXCLUDED.override_until,
        override_version = a.override_version + 1
    RETURNING site_id, id, policy_override, override_until, override_version
    """
)

# --- rate limits ------------------------------------------------------------------------

# The keys of one service.store.limits.Limits, their caps, the current bucket and the shard
# row this hit is counted on: by connection, so one replica's connections, which run side
# by side, rarely share a row (an unsharded key has one row, shard 0).
_RL_LIMITS: Final = """
    rl_limits AS (
        SELECT l.key, l.cap, (pg_backend_pid() % l.shards)::smallint AS shard,
               floor(extract(epoch FROM now()) / CAST(:rl_bucket AS integer))::bigint AS bucket,
               CAST(:rl_window AS integer) / CAST(:rl_bucket AS integer) AS earlier_buckets
        FROM unnest(CAST(:rl_keys AS text[]), CAST(:rl_caps AS integer[]),
                    CAST(:rl_shards AS integer[])) AS l(key, cap, shards)
    )
"""

# The CTEs a limited write starts with; rl_ok says whether the write may go ahead.
#   rl_counted  counts this hit. The upsert locks the key's bucket (shard) row, so hits on
#               it, from any replica, are counted one after another, each on the count the
#               one before committed; a refused or failed write rolls its hit back. Rows
#               are taken in sorted order, so two writes sharing keys cannot deadlock.
#   rl_earlier  the rest of the window: earlier buckets and the key's other shards, read
#               (not locked). Earlier buckets are closed, so only a hit in flight across a
#               bucket's edge, or on another shard, can be missed.
#   rl_ok       every key within its cap, this hit included
_RATE_LIMIT_CTES: Final = f"""
    {_RL_LIMITS},
    rl_counted AS (
        INSERT INTO rate_limit_hits AS h (key, bucket, shard, hits, expires_at)
        SELECT key, bucket, shard, 1,
               to_timestamp((bucket + 1) * CAST(:rl_bucket AS integer)
                            + CAST(:rl_window AS integer))
        FROM rl_limits ORDER BY key, shard
        ON CONFLICT (key, bucket, shard) DO UPDATE SET hits = h.hits + 1
        RETURNING h.key, h.hits
    ),
    rl_earlier AS (
        SELECT e.key, sum(e.hits) AS hits
        FROM rate_limit_hits e JOIN rl_limits l ON l.key = e.key
        WHERE e.bucket BETWEEN l.bucket - l.earlier_buckets AND l.bucket
          AND (e.bucket, e.shard) <> (l.bucket, l.shard)
        GROUP BY e.key
    ),
    rl_ok AS (
        SELECT coalesce(bool_and(c.hits + coalesce(e.hits, 0) <= l.cap), true) AS allowed
        FROM rl_limits l
        JOIN rl_counted c ON c.key = l.key
        LEFT JOIN rl_earlier e ON e.key = l.key
    )
"""

# A limited write that is not itself one statement (a report) counts its hit with this.
HIT_RATE_LIMITS: Final[TextClause] = text(f"WITH {_RATE_LIMIT_CTES} SELECT allowed FROM rl_ok")

# Seconds until a refused hit would be allowed, run in the refused transaction (so its own
# hit is still counted): per key, the first bucket edge at which what is left of the window
# fits the cap, if nothing more comes; the longest wait of all keys. A key within its cap
# already fits at edge 0, now or earlier.
RATE_LIMIT_WAIT: Final[TextClause] = text(
    f"""
    WITH {_RL_LIMITS}
    SELECT coalesce(max(wait), 0) AS wait FROM (
        SELECT min((l.bucket + k) * CAST(:rl_bucket AS integer)
                   - extract(epoch FROM now())) AS wait
        FROM rl_limits l, generate_series(0, l.earlier_buckets + 1) AS k
        WHERE (SELECT coalesce(sum(h.hits), 0) FROM rate_limit_hits h
               WHERE h.key = l.key
                 AND h.bucket BETWEEN l.bucket + k - l.earlier_buckets AND l.bucket) <= l.cap
        GROUP BY l.key
    ) per_key
    """
)

# Bounded, so a sweep after a long pause does not hold a long transaction.
SWEEP_RATE_LIMITS: Final[TextClause] = text(
    """
    DELETE FROM rate_limit_hits WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM rate_limit_hits WHERE expires_at < now() LIMIT :batch
    ))
    """
)

# --- comments ---------------------------------------------------------------------------

# One statement counts the rate limits (rl_*, above) and writes the article (on its first
# comment), the comment, its scoring job and its first audit row. Over a limit, or when the
# parent is not a comment of the same article, nothing is written (the caller rolls the
# counts back). ON CONFLICT DO NOTHING on the article takes no row lock, so a hot article
# does not serialise its comments. It runs in a transaction on the asyncpg connection under
# SQLAlchemy's pool (``CommentStore.submit``, ``db.driver_transaction``), which also rolls a
# refusal's counts back. (In autocommit it was measured slower: 464/s against 877/s; for
# issue 14, 132-149/s against 168-255/s through SQLAlchemy, and on the driver 439-441/s
# against 482-506/s in a transaction, for 20% less client CPU.)
#   parent_ok      the parent, found by primary key alone; its site and article are
#                  compared after (in the WHERE, a generic plan built on a near-empty table
#                  took a site_id index for them, and read every comment of the site)
#   duplicate      the same author's same text within the window, newest first: refused,
#                  and its status says what to tell the author (waiting, or published).
#                  comments_author_text_idx leads with author_key and body_hash, which no
#                  other index does, so every plan reads at most the one row it returns
#   article_known  an article created without a url or title takes the first one a later
#                  comment gives; the WHERE locks the row only while something is missing.
#                  (The web layer passes a url only when it is on one of the site's origins.)
#   answered       marks the parent as answered, for the thread's removed comments; only
#                  its first reply takes the row lock
INSERT_COMMENT: Final[TextClause] = text(
    f"""
    WITH {_RATE_LIMIT_CTES},
    ok AS (
        SELECT allowed, parent_ok, duplicate_status, duplicate_status IS NULL AS fresh
        FROM (
            SELECT
                (SELECT allowed FROM rl_ok) AS allowed,
                CAST(:parent_id AS uuid) IS NULL OR coalesce((
                    SELECT p.site_id = :site_id AND p.article_id = :article_id
                    FROM comments p WHERE p.id = :parent_id
                ), false) AS parent_ok,
                (
                    SELECT d.status FROM comments d
                    WHERE d.author_key = :author_key AND d.body_hash = :body_hash
                      AND d.created_at > now() - make_interval(secs => :duplicate_window)
                      AND d.site_id = :site_id
                    ORDER BY d.created_at DESC
                    LIMIT 1
                ) AS duplicate_status
        ) checks
    ),
    article AS (
        INSERT INTO articles (site_id, id, url, title)
        SELECT :site_id, :article_id, :article_url, :article_title FROM ok
        WHERE allowed AND parent_ok AND fresh
        ON CONFLICT (site_id, id) DO NOTHING
    ),
    article_known AS (
        UPDATE articles
        SET url = COALESCE(url, :article_url), title = COALESCE(title, :article_title)
        WHERE site_id = :site_id AND id = :article_id
          AND ((url IS NULL AND CAST(:article_url AS text) IS NOT NULL)
               OR (title IS NULL AND CAST(:article_title AS text) IS NOT NULL))
          AND EXISTS (SELECT 1 FROM ok WHERE allowed AND parent_ok AND fresh)
    ),
    answered AS (
        UPDATE comments SET answered = true
        WHERE id = :parent_id AND NOT answered
          AND EXISTS (SELECT 1 FROM ok WHERE allowed AND parent_ok AND fresh)
    ),
    comment AS (
        INSERT INTO comments (site_id, article_id, parent_id, body, author_name,
                              author_email, author_token_hash, author_key, body_hash,
                              author_verified)
        SELECT :site_id, :article_id, :parent_id, :body, :author_name, :author_email,
               :token_hash, :author_key, :body_hash, :author_verified
        FROM ok WHERE allowed AND parent_ok AND fresh
        RETURNING id, created_at
    ),
    job AS (
        INSERT INTO scoring_jobs (comment_id) SELECT id FROM comment
    ),
    audit AS (
        INSERT INTO audit_log (comment_id, site_id, from_status, to_status, actor_kind, actor,
                               reason)
        SELECT id, :site_id, NULL, 'pending', 'system', 'system', 'submitted' FROM comment
    )
    SELECT (SELECT id FROM comment) AS id, (SELECT created_at FROM comment) AS created_at,
           ok.allowed, ok.parent_ok, ok.fresh, ok.duplicate_status
    FROM ok
    """
)

# --- idempotency keys -------------------------------------------------------------------

# A concurrent request with the same key waits on this row's lock: a short lock_timeout
# turns that wait into "still in flight" (409) rather than a queue of blocked requests.
IDEMPOTENCY_LOCK_TIMEOUT: Final[TextClause] = text("SET LOCAL lock_timeout = '250ms'")

# Once the key is ours, the rest of the submission waits for locks as usual: the rate-limit
# counts it takes are held only by other submissions' short transactions.
IDEMPOTENCY_LOCK_TIMEOUT_OFF: Final[TextClause] = text("SET LOCAL lock_timeout = DEFAULT")

CLAIM_IDEMPOTENCY_KEY: Final[TextClause] = text(
    """
    INSERT INTO idempotency_keys (site_id, key, request_hash)
    VALUES (:site_id, :key, :request_hash)
    ON CONFLICT (site_id, key) DO NOTHING
    RETURNING key
    """
)

GET_IDEMPOTENCY_KEY: Final[TextClause] = text(
    """
    SELECT request_hash, response FROM idempotency_keys
    WHERE site_id = :site_id AND key = :key
    """
)

SAVE_IDEMPOTENT_RESPONSE: Final[TextClause] = text(
    """
    UPDATE idempotency_keys SET response = CAST(:response AS jsonb)
    WHERE site_id = :site_id AND key = :key
    """
)

SWEEP_IDEMPOTENCY_KEYS: Final[TextClause] = text(
    "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => :keep)"
)

# A comment as moderators see it. The article's link only on one of its site's origins
# (replyguard_article_link); its title is what a reader's page sent, shown as plain text.
_COMMENT_COLUMNS: Final = """
    c.id, c.site_id, c.article_id, c.parent_id, c.body, c.author_name, c.author_email,
    c.status, c.created_at, c.status_changed_at, c.status_reason, c.scores, c.explanation,
    a.title AS article_title, replyguard_article_link(a.url, a.site_id) AS article_url,
    encode(c.author_key, 'hex') AS author_id, c.author_verified
"""

GET_COMMENT: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE c.id = :comment_id
    """
)

GET_COMMENTS: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE c.id = ANY(CAST(:comment_ids AS uuid[]))
    """
)

# The comment with the hash of its author's token, checked in the same round trip, and
# whether a comment above it still waits for moderation (pending or held): an approved
# reply is not shown until then (THREAD_REPLIES).
GET_COMMENT_FOR_AUTHOR: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}, c.author_token_hash,
           EXISTS (
               WITH RECURSIVE above AS (
                   SELECT p.id, p.parent_id, p.status, 1 AS depth
                   FROM comments p WHERE p.id = c.parent_id
                   UNION ALL
                   SELECT p.id, p.parent_id, p.status, u.depth + 1
                   FROM comments p JOIN above u ON p.id = u.parent_id
                   WHERE u.depth < :max_depth
               )
               SELECT 1 FROM above WHERE status IN ('pending', 'held')
           ) AS parent_waiting
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE c.id = :comment_id
    """
)

# Keyset cursors (created_at, id) with "no cursor" as the lowest key, so the comparison is
# always an index condition: an OR with "no cursor yet" is not.
_AFTER_TS: Final = "coalesce(CAST(:after_ts AS timestamptz), '-infinity')"
_AFTER_ID: Final = "coalesce(CAST(:after_id AS uuid), '00000000-0000-0000-0000-000000000000')"

# The public thread. A comment is shown when it is approved and nothing above it waits for
# moderation; a rejected comment is shown as "removed" (no name, no words) while a shown
# reply hangs from it, so the conversation below it keeps its place. A pending or held
# comment hides its replies until it is decided.
#
# A page of top-level comments, oldest first (keyset on created_at, id):
#   approved  the thread's partial index, in order
#   removed   rejected ones that were answered (their own partial index) from which an
#             approved reply is reached through rejected comments only, within the
#             thread's depth
# Each half is ordered and limited, so the merge reads no more than a page of each. The
# cursor is an index condition (no cursor: from -infinity), so a later page starts where
# the last one ended rather than reading every page before it.
THREAD_PAGE: Final[TextClause] = text(
    f"""
    SELECT id, parent_id, author_name, body, created_at, status FROM (
        (SELECT id, parent_id, author_name, body, created_at, status
         FROM comments
         WHERE site_id = :site_id AND article_id = :article_id AND status = 'approved'
           AND parent_id IS NULL
           AND (created_at, id) > ({_AFTER_TS}, {_AFTER_ID})
         ORDER BY created_at, id
         LIMIT :limit)
        UNION ALL
        (SELECT r.id, r.parent_id, r.author_name, r.body, r.created_at, r.status
         FROM comments r
         WHERE r.site_id = :site_id AND r.article_id = :article_id AND r.status = 'rejected'
           AND r.answered AND r.parent_id IS NULL
           AND (r.created_at, r.id) > ({_AFTER_TS}, {_AFTER_ID})
           AND EXISTS (
               WITH RECURSIVE below AS (
                   SELECT k.id, k.status, 1 AS depth FROM comments k
                   WHERE k.parent_id = r.id
                     AND (k.status = 'approved' OR (k.status = 'rejected' AND k.answered))
                   UNION ALL
                   SELECT k.id, k.status, b.depth + 1
                   FROM comments k JOIN below b ON k.parent_id = b.id
                   WHERE b.status = 'rejected' AND b.depth < :max_depth
                     AND (k.status = 'approved' OR (k.status = 'rejected' AND k.answered))
               )
               SELECT 1 FROM below WHERE status = 'approved'
           )
         ORDER BY r.created_at, r.id
         LIMIT :limit)
    ) page
    ORDER BY created_at, id
    LIMIT :limit
    """
)

# The replies below the page's comments: approved ones, and rejected ones that were
# answered (a rejected comment with no replies is never shown, so it is not read).
# Pending and held comments stop the walk: their replies wait. The store drops a removed
# comment with nothing shown below it.
THREAD_REPLIES: Final[TextClause] = text(
    """
    WITH RECURSIVE tree AS (
        SELECT c.id, c.parent_id, c.author_name, c.body, c.created_at, c.status, 1 AS depth
        FROM comments c
        WHERE c.parent_id = ANY(CAST(:roots AS uuid[]))
          AND (c.status = 'approved' OR (c.status = 'rejected' AND c.answered))
        UNION ALL
        SELECT c.id, c.parent_id, c.author_name, c.body, c.created_at, c.status, t.depth + 1
        FROM comments c JOIN tree t ON c.parent_id = t.id
        WHERE t.depth < :max_depth
          AND (c.status = 'approved' OR (c.status = 'rejected' AND c.answered))
    )
    SELECT id, parent_id, author_name, body, created_at, status FROM tree
    ORDER BY created_at, id
    LIMIT :limit
    """
)

# --- the moderators' queue --------------------------------------------------------------

# Keyset pagination in either order, read site by site: each site's page comes ordered
# from its own index (comments_queue_age_idx, comments_queue_top_score_idx) and stops after
# a page, so a page costs the same with 100 held comments or 100,000, whatever plan the
# connection cached. (A filter on several sites at once, or an OR with "no cursor yet",
# cannot be an index condition: such a page sorted every held comment first.) No cursor
# reads from the start: -infinity, and the lowest or highest id. A label filter keeps
# comments on which that label fired (held or rejected by it); it is checked on the rows
# the index yields, so it reads until a page of them is found.
_QUEUE_SITES: Final = "unnest(coalesce(CAST(:sites AS text[]), ARRAY(SELECT id FROM sites)))"
_QUEUE_FILTERS: Final = """
          AND (CAST(:article_id AS text) IS NULL OR c.article_id = :article_id)
          AND (CAST(:label AS text) IS NULL
               OR c.explanation->'labels' @> CAST(:label_fired AS jsonb)
               OR c.explanation->'labels' @> CAST(:label_rejected AS jsonb))
"""

QUEUE_PAGE_OLDEST: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}
    FROM {_QUEUE_SITES} AS s(id)
    CROSS JOIN LATERAL (
        SELECT c.* FROM comments c
        WHERE c.site_id = s.id AND c.status = :status {_QUEUE_FILTERS}
          AND (c.created_at, c.id) > ({_AFTER_TS}, {_AFTER_ID})
        ORDER BY c.created_at, c.id
        LIMIT :limit
    ) c
    JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    ORDER BY c.created_at, c.id
    LIMIT :limit
    """
)

# Highest score first: the highest label's (comments_queue_top_score_idx holds the same
# expression; unscored comments count as 0), or with a label filter, that label's score
# (QUEUE_PAGE_LABEL_SCORE). The latter is in no index: it sorts the comments on which
# the label fired, a share of the queue.
QUEUE_PAGE_SCORE: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}, c.sort_key
    FROM {_QUEUE_SITES} AS s(id)
    CROSS JOIN LATERAL (
        SELECT c.*, coalesce(c.max_score, 0) AS sort_key FROM comments c
        WHERE c.site_id = s.id AND c.status = :status {_QUEUE_FILTERS}
          AND (coalesce(c.max_score, 0), c.id)
              < (coalesce(CAST(:after_key AS real), 'infinity'),
                 coalesce(CAST(:after_id AS uuid), 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
        ORDER BY coalesce(c.max_score, 0) DESC, c.id DESC
        LIMIT :limit
    ) c
    JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    ORDER BY c.sort_key DESC, c.id DESC
    LIMIT :limit
    """
)

QUEUE_PAGE_LABEL_SCORE: Final[TextClause] = text(
    f"""
    SELECT * FROM (
        SELECT {_COMMENT_COLUMNS},
               coalesce(CAST(c.scores->>CAST(:label AS text) AS float8), 0) AS sort_key
        FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
        WHERE c.status = :status
          AND (CAST(:sites AS text[]) IS NULL OR c.site_id = ANY(CAST(:sites AS text[])))
          {_QUEUE_FILTERS}
    ) q
    WHERE CAST(:after_key AS float8) IS NULL
       OR (q.sort_key, q.id) < (CAST(:after_key AS float8), CAST(:after_id AS uuid))
    ORDER BY q.sort_key DESC, q.id DESC
    LIMIT :limit
    """
)

# --- decisions --------------------------------------------------------------------------

# Lock the comment so two moderators deciding at once are applied one after the other.
LOCK_COMMENT: Final[TextClause] = text(
    "SELECT id, site_id, status FROM comments WHERE id = :comment_id FOR UPDATE"
)

SET_STATUS: Final[TextClause] = text(
    """
    UPDATE comments
    SET status = :status, status_reason = :reason, status_changed_at = now()
    WHERE id = :comment_id
    """
)

INSERT_AUDIT: Final[TextClause] = text(
    """
    INSERT INTO audit_log (comment_id, site_id, from_status, to_status, actor_kind, actor,
                           reason, explanation)
    VALUES (:comment_id, :site_id, :from_status, :to_status, :actor_kind, :actor, :reason,
            CAST(:explanation AS jsonb))
    """
)

INSERT_OUTBOX: Final[TextClause] = text(
    """
    INSERT INTO outbox (event_type, site_id, comment_id, payload)
    VALUES (:event_type, :site_id, :comment_id, CAST(:payload AS jsonb))
    """
)

GET_AUDIT: Final[TextClause] = text(
    """
    SELECT id, comment_id, from_status, to_status, actor_kind, actor, reason, explanation,
           created_at
    FROM audit_log WHERE comment_id = :comment_id ORDER BY id
    """
)

# --- scoring jobs -----------------------------------------------------------------------

# The worker's statements name a batch of ids (= ANY(array)). A generic plan built while
# comments and scoring_jobs were nearly empty reads such a batch with a sequential scan,
# and keeps doing so when they hold millions; a plan made for each execution sees the
# tables' current size (even with no statistics) and looks the ids up by primary key.
# Planning once per batch costs a fraction of a millisecond, so the worker's transactions
# that run them start with this. (The web's statements are instead shaped so that any
# plan is bounded: they run per request, and their planning would cost more than them.)
FRESH_PLANS: Final[TextClause] = text("SET LOCAL plan_cache_mode = force_custom_plan")

# The claim: one statement picks ready jobs and marks them taken.
#   expired  running jobs whose lease ran out (their worker died), oldest lease first
#   queued   queued jobs whose backoff has passed, oldest first
#   ready    expired ones first, then queued ones, up to the batch. Each part reads its own
#            partial index in order and stops at the batch (rows are locked only as the
#            limit pulls them), so a claim costs the same behind a backlog of a million
#            jobs; one OR over both states had to collect and sort every ready job first.
#            SKIP LOCKED lets many workers claim side by side.
#   UPDATE   counts the attempt at claim time, so a job that kills its worker every time
#            still runs out of attempts
CLAIM_JOBS: Final[TextClause] = text(
    """
    WITH expired AS (
        SELECT comment_id FROM scoring_jobs
        WHERE state = 'running' AND locked_until < now()
        ORDER BY locked_until
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ),
    queued AS (
        SELECT comment_id FROM scoring_jobs
        WHERE state = 'queued' AND run_after <= now()
        ORDER BY run_after
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ),
    ready AS (
        SELECT comment_id FROM expired
        UNION ALL
        SELECT comment_id FROM queued
        LIMIT :limit
    )
    UPDATE scoring_jobs j
    SET state = 'running', attempts = j.attempts + 1, locked_by = :worker_id,
        locked_until = now() + make_interval(secs => :lease_seconds)
    FROM ready WHERE j.comment_id = ready.comment_id
    RETURNING j.comment_id, j.attempts
    """
)

# What a worker needs to score and decide the claimed comments: the text, the site's
# policy and any live article override, and the author's standing on the site (issue 12):
#   earlier    the author's comments before this one, in any state (first_comments)
#   history    approved ever, rejected in the last 90 days (trusted_after); by the
#              (site_id, author_key) prefix of comments_repost_idx. An erased or unknown
#              author (null key) has none.
#   sanction   only one in force: a suspension past its end no longer counts
JOB_CONTEXT: Final[TextClause] = text(
    """
    SELECT c.id, c.body, c.status, c.site_id, c.article_id,
           s.policy, s.policy_version,
           CASE WHEN a.override_until IS NULL OR a.override_until > now()
                THEN a.policy_override END AS policy_override,
           a.override_version,
           c.author_verified,
           (SELECT count(*) FROM comments e
            WHERE e.site_id = c.site_id AND e.author_key = c.author_key
              AND e.created_at < c.created_at) AS earlier_comments,
           h.approved, h.rejected_recently,
           sn.kind AS sanction_kind, sn.until AS sanction_until
    FROM comments c
    JOIN sites s ON s.id = c.site_id
    JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE e.status = 'approved') AS approved,
               count(*) FILTER (WHERE e.status = 'rejected'
                                  AND e.status_changed_at > now() - interval '90 days')
                   AS rejected_recently
        FROM comments e
        WHERE e.site_id = c.site_id AND e.author_key = c.author_key AND e.id <> c.id
    ) h
    LEFT JOIN author_sanctions sn
        ON sn.site_id = c.site_id AND sn.author_key = c.author_key
       AND (sn.until IS NULL OR sn.until > now())
    WHERE c.id = ANY(CAST(:comment_ids AS uuid[]))
    """
)

# The unique key (comment, model, version) makes a second run of the same job a no-op.
INSERT_SCORES: Final[TextClause] = text(
    """
    INSERT INTO comment_scores (comment_id, model_name, model_version, scores)
    VALUES (:comment_id, :model_name, :model_version, CAST(:scores AS jsonb))
    ON CONFLICT DO NOTHING
    RETURNING comment_id
    """
)

# Only a pending comment takes the model's decision: a moderator who already acted wins.
APPLY_MODEL_DECISION: Final[TextClause] = text(
    """
    UPDATE comments
    SET status = :status, status_reason = :reason, scores = CAST(:scores AS jsonb),
        max_score = :max_score, explanation = CAST(:explanation AS jsonb),
        status_changed_at = now()
    WHERE id = :comment_id AND status = 'pending'
    RETURNING site_id, article_id
    """
)

# Scores that arrive after a moderator decided are still kept for the queue's display.
RECORD_LATE_SCORES: Final[TextClause] = text(
    """
    UPDATE comments
    SET scores = CAST(:scores AS jsonb), max_score = :max_score,
        explanation = CAST(:explanation AS jsonb)
    WHERE id = :comment_id AND scores IS NULL
    """
)

FINISH_JOBS: Final[TextClause] = text(
    """
    UPDATE scoring_jobs
    SET state = 'done', finished_at = now(), locked_by = NULL, locked_until = NULL
    WHERE comment_id = ANY(CAST(:comment_ids AS uuid[]))
    """
)

RETRY_JOB: Final[TextClause] = text(
    """
    UPDATE scoring_jobs
    SET state = 'queued', locked_by = NULL, locked_until = NULL, last_error = :error,
        run_after = now() + make_interval(secs => :delay_seconds)
    WHERE comment_id = :comment_id
    """
)

FAIL_JOB: Final[TextClause] = text(
    """
    UPDATE scoring_jobs
    SET state = 'failed', locked_by = NULL, locked_until = NULL, last_error = :error,
        finished_at = now()
    WHERE comment_id = :comment_id
    """
)

HOLD_PENDING: Final[TextClause] = text(
    """
    UPDATE comments SET status = 'held', status_reason = :reason, status_changed_at = now()
    WHERE id = :comment_id AND status = 'pending'
    RETURNING site_id, article_id
    """
)

# On shutdown a worker hands back what it has not scored; the attempt does not count.
RELEASE_JOBS: Final[TextClause] = text(
    """
    UPDATE scoring_jobs
    SET state = 'queued', locked_by = NULL, locked_until = NULL,
        attempts = greatest(attempts - 1, 0)
    WHERE comment_id = ANY(CAST(:comment_ids AS uuid[])) AND locked_by = :worker_id
      AND state = 'running'
    """
)

QUEUE_STATS: Final[TextClause] = text(
    """
    SELECT count(*) FILTER (WHERE state = 'queued') AS queued,
           count(*) FILTER (WHERE state = 'running') AS running,
           count(*) FILTER (WHERE state = 'failed') AS failed,
           EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state <> 'done'
                                                               AND state <> 'failed'))
               AS oldest_age
    FROM scoring_jobs
    """
)

# --- workers ----------------------------------------------------------------------------

HEARTBEAT: Final[TextClause] = text(
    """
    INSERT INTO workers (id, hostname, pid, model_name, model_version, shadow_models,
                         promoted_models)
    VALUES (:worker_id, :hostname, :pid, :model_name, :model_version,
            CAST(:shadow_models AS jsonb), CAST(:promoted_models AS jsonb))
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(),
        model_name = EXCLUDED.model_name, model_version = EXCLUDED.model_version,
        shadow_models = EXCLUDED.shadow_models, promoted_models = EXCLUDED.promoted_models
    """
)

REMOVE_WORKER: Final[TextClause] = text("DELETE FROM workers WHERE id = :worker_id")

LIVE_SCORERS: Final[TextClause] = text(
    """
    SELECT count(*) FROM workers
    WHERE model_name IS NOT NULL
      AND heartbeat_at > now() - make_interval(secs => :stale_seconds)
    """
)

# The newest migration applied (service.store.schema keeps the record).
SCHEMA_VERSION: Final[TextClause] = text("SELECT max(version) FROM schema_migrations")

# --- tokens -----------------------------------------------------------------------------

INSERT_TOKEN: Final[TextClause] = text(
    """
    INSERT INTO api_tokens (token_hash, role, sites, label)
    VALUES (:token_hash, :role, :sites, :label)
    RETURNING id
    """
)

# Read at every request, never cached, so a revoked token is refused at once. The same
# round trip marks the token used, at most once a minute, so a busy token costs no write
# per request.
FIND_TOKEN: Final[TextClause] = text(
    """
    WITH found AS (
        SELECT id, role, sites, label FROM api_tokens
        WHERE token_hash = :token_hash AND revoked_at IS NULL
    ),
    touched AS (
        UPDATE api_tokens SET last_used_at = now()
        WHERE id = (SELECT id FROM found)
          AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    )
    SELECT id, role, sites, label FROM found
    """
)

COUNT_ADMIN_TOKENS: Final[TextClause] = text(
    "SELECT count(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL"
)

# --- readers' reports -------------------------------------------------------------------

# One report per reader per comment; only approved (visible) comments can be reported.
# Counting happens on the comment row, which the insert locks, so concurrent reports
# cross the threshold exactly once.
ADD_REPORT: Final[TextClause] = text(
    """
    WITH target AS (
        SELECT id FROM comments WHERE id = :comment_id AND status = 'approved' FOR UPDATE
    ),
    report AS (
        INSERT INTO comment_reports (comment_id, reader_key, reason)
        SELECT id, :reader_key, :reason FROM target
        ON CONFLICT DO NOTHING
        RETURNING comment_id
    )
    UPDATE comments c SET report_count = c.report_count + 1
    FROM report WHERE c.id = report.comment_id
    RETURNING c.report_count, c.site_id
    """
)

REPORT_CONTEXT: Final[TextClause] = text(
    """
    SELECT c.status, c.site_id, s.policy, s.policy_version
    FROM comments c JOIN sites s ON s.id = c.site_id
    WHERE c.id = :comment_id
    """
)

# --- backlog ----------------------------------------------------------------------------

# Per site: the age of its oldest unscored comment and whether a backlog episode is open.
BACKLOG_STATE: Final[TextClause] = text(
    """
    SELECT s.id AS site_id, s.policy, s.policy_version,
           EXTRACT(EPOCH FROM now() - (SELECT min(c.created_at) FROM comments c
                                       WHERE c.site_id = s.id AND c.status = 'pending'))
               AS oldest_age,
           e.id AS episode_id
    FROM sites s
    LEFT JOIN backlog_episodes e ON e.site_id = s.id AND e.ended_at IS NULL
    """
)

OPEN_BACKLOG: Final[TextClause] = text(
    """
    INSERT INTO backlog_episodes (site_id, oldest_age) VALUES (:site_id, :oldest_age)
    ON CONFLICT (site_id) WHERE ended_at IS NULL DO NOTHING
    RETURNING id
    """
)

CLOSE_BACKLOG: Final[TextClause] = text(
    "UPDATE backlog_episodes SET ended_at = now() WHERE id = :episode_id AND ended_at IS NULL"
)

INSERT_SITE_EVENT: Final[TextClause] = text(
    """
    INSERT INTO outbox (event_type, site_id, payload)
    VALUES (:event_type, :site_id, CAST(:payload AS jsonb))
    """
)

OPEN_BACKLOGS: Final[TextClause] = text(
    """
    SELECT site_id, started_at, oldest_age FROM backlog_episodes
    WHERE ended_at IS NULL ORDER BY site_id
    """
)

# --- authors' data ----------------------------------------------------------------------

AUTHOR_COMMENTS: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}, c.author_key
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE (CAST(:email AS text) IS NOT NULL AND lower(c.author_email) = lower(:email))
       OR (CAST(:author_key AS bytea) IS NOT NULL AND c.author_key = :author_key)
    ORDER BY c.created_at, c.id
    """
)

# Erasure keeps the row (replies still hang from it, the audit trail still points at it)
# but removes what identifies or was written by the person.
ERASE_COMMENT: Final[TextClause] = text(
    """
    UPDATE comments
    SET body = '', author_name = '[erased]', author_email = NULL, author_key = NULL,
        body_hash = NULL, scores = NULL, explanation = NULL,
        status = CASE WHEN status IN ('approved', 'pending') THEN 'rejected' ELSE status END,
        status_reason = 'erased at the author''s request', status_changed_at = now()
    WHERE id = :comment_id
    RETURNING site_id, status
    """
)

ERASE_COMMENT_HISTORY: Final[TextClause] = text(
    "UPDATE audit_log SET explanation = NULL WHERE comment_id = :comment_id"
)

ERASE_COMMENT_SCORES: Final[TextClause] = text(
    "DELETE FROM comment_scores WHERE comment_id = :comment_id"
)

# Events already written about the comment keep their type and ids, not its words.
ERASE_COMMENT_EVENTS: Final[TextClause] = text(
    """
    UPDATE outbox
    SET payload = jsonb_build_object('comment_id', comment_id::text, 'site_id', site_id,
                                     'erased', true)
    WHERE comment_id = :comment_id
    """
)

# --- authors: identity, history, sanctions (issue 12) -----------------------------------
# An author is (site_id, author_key); comments_repost_idx leads with both, so an author's
# comments are read by index however big the site.

# One author on one site: counts per state, first and last comment, the latest name.
AUTHOR_PROFILE: Final[TextClause] = text(
    """
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'approved') AS approved,
           count(*) FILTER (WHERE status = 'rejected') AS rejected,
           count(*) FILTER (WHERE status = 'held') AS held,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           min(created_at) AS first_seen, max(created_at) AS last_seen,
           coalesce(bool_or(author_verified), false) AS verified,
           (SELECT l.author_name FROM comments l
            WHERE l.site_id = :site_id AND l.author_key = :author_key
            ORDER BY l.created_at DESC LIMIT 1) AS name
    FROM comments
    WHERE site_id = :site_id AND author_key = :author_key
    """
)

# The counts and first comment of many authors at once (a queue page's), by (site, hex id).
AUTHOR_HISTORIES: Final[TextClause] = text(
    """
    SELECT c.site_id, encode(c.author_key, 'hex') AS author_id,
           count(*) FILTER (WHERE c.status = 'approved') AS approved,
           count(*) FILTER (WHERE c.status = 'rejected') AS rejected,
           count(*) FILTER (WHERE c.status = 'held') AS held,
           count(*) FILTER (WHERE c.status = 'pending') AS pending,
           min(c.created_at) AS first_seen
    FROM unnest(CAST(:sites AS text[]), CAST(:author_ids AS text[])) AS w(site_id, author_id)
    JOIN comments c ON c.site_id = w.site_id AND c.author_key = decode(w.author_id, 'hex')
    GROUP BY c.site_id, c.author_key
    """
)

# An author's comments, newest first (keyset on created_at, id).
AUTHOR_COMMENTS_PAGE: Final[TextClause] = text(
    f"""
    SELECT {_COMMENT_COLUMNS}
    FROM comments c JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE c.site_id = :site_id AND c.author_key = :author_key
      AND (CAST(:after_ts AS timestamptz) IS NULL
           OR (c.created_at, c.id) < (CAST(:after_ts AS timestamptz), CAST(:after_id AS uuid)))
    ORDER BY c.created_at DESC, c.id DESC
    LIMIT :limit
    """
)

# The sanction in force: a suspension past its end is as good as none.
GET_SANCTION: Final[TextClause] = text(
    """
    SELECT kind, until, reason, created_by, created_at FROM author_sanctions
    WHERE site_id = :site_id AND author_key = :author_key
      AND (until IS NULL OR until > now())
    """
)

# A new sanction replaces the one before (one row per author and site).
UPSERT_SANCTION: Final[TextClause] = text(
    """
    INSERT INTO author_sanctions (site_id, author_key, kind, until, reason, created_by)
    VALUES (:site_id, :author_key, :kind, :until, :reason, :actor)
    ON CONFLICT (site_id, author_key) DO UPDATE SET
        kind = EXCLUDED.kind, until = EXCLUDED.until, reason = EXCLUDED.reason,
        created_by = EXCLUDED.created_by, created_at = now()
    RETURNING kind, until, reason, created_by, created_at
    """
)

# Lifting removes the row; in_force says whether there was anything left to lift.
LIFT_SANCTION: Final[TextClause] = text(
    """
    DELETE FROM author_sanctions
    WHERE site_id = :site_id AND author_key = :author_key
    RETURNING kind, until, (until IS NULL OR until > now()) AS in_force
    """
)

INSERT_AUTHOR_AUDIT: Final[TextClause] = text(
    """
    INSERT INTO author_audit (site_id, author_key, action, kind, until, reason, actor)
    VALUES (:site_id, :author_key, :action, :kind, :until, :reason, :actor)
    """
)

# Erasure keeps the sanctions and their audit (who did what, when) but not the reasons,
# which may quote or describe the person; nor do the events that carried them.
ERASE_SANCTION_REASONS: Final[TextClause] = text(
    "UPDATE author_sanctions SET reason = NULL WHERE author_key = ANY(CAST(:keys AS bytea[]))"
)

ERASE_AUTHOR_AUDIT_REASONS: Final[TextClause] = text(
    "UPDATE author_audit SET reason = NULL WHERE author_key = ANY(CAST(:keys AS bytea[]))"
)

ERASE_AUTHOR_EVENTS: Final[TextClause] = text(
    """
    UPDATE outbox SET payload = (payload - 'reason') || '{"erased": true}'::jsonb
    WHERE event_type IN ('author.sanctioned', 'author.unsanctioned')
      AND payload->>'author_id' = ANY(CAST(:author_ids AS text[]))
    """
)

# A new SSO secret replaces the old at once: tokens signed with the old one are refused.
SET_SSO_SECRET: Final[TextClause] = text(
    """
    UPDATE sites SET sso_secret = :secret, sso_rotated_at = now()
    WHERE id = :site_id
    RETURNING sso_rotated_at
    """
)
