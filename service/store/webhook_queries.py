"""Every SQL statement of the webhooks, each named and saying why it is shaped as it is.

``service.store.webhooks`` runs these and turns rows into objects. Times that decide when a
delivery runs (``:now``) come from the caller's clock, not the database's ``now()``, so the
retry schedule can be tested with a clock the test moves.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import TextClause, text

# --- endpoints --------------------------------------------------------------------------

_ENDPOINT_COLUMNS: Final = """
    id, url, site_id, events, description, enabled, disabled_reason, disabled_at,
    disabled_by, failing_since, previous_secret_until, created_by, created_at, updated_at
"""

INSERT_ENDPOINT: Final[TextClause] = text(
    f"""
    INSERT INTO webhook_endpoints (url, site_id, events, description, secret, created_by)
    VALUES (:url, :site_id, :events, :description, :secret, :created_by)
    RETURNING {_ENDPOINT_COLUMNS}
    """
)

GET_ENDPOINT: Final[TextClause] = text(
    f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = :endpoint_id"
)

# An admin of some sites sees their endpoints; only an all-sites admin (sites null) sees the
# endpoints that listen to every site.
LIST_ENDPOINTS: Final[TextClause] = text(
    f"""
    SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints
    WHERE (CAST(:sites AS text[]) IS NULL OR site_id = ANY(CAST(:sites AS text[])))
      AND (CAST(:site_id AS text) IS NULL OR site_id = :site_id)
    ORDER BY created_at, id
    LIMIT :limit
    """
)

# Fields left null keep their value: PATCH semantics in one statement.
UPDATE_ENDPOINT: Final[TextClause] = text(
    f"""
    UPDATE webhook_endpoints
    SET url = COALESCE(CAST(:url AS text), url),
        events = COALESCE(CAST(:events AS text[]), events),
        description = COALESCE(CAST(:description AS text), description),
        updated_at = now()
    WHERE id = :endpoint_id
    RETURNING {_ENDPOINT_COLUMNS}
    """
)

# Enabling starts the endpoint's health afresh: five days of failure count from now on.
ENABLE_ENDPOINT: Final[TextClause] = text(
    f"""
    UPDATE webhook_endpoints
    SET enabled = true, disabled_reason = NULL, disabled_at = NULL, disabled_by = NULL,
        failing_since = NULL, updated_at = now()
    WHERE id = :endpoint_id
    RETURNING {_ENDPOINT_COLUMNS}
    """
)

# Only an enabled endpoint is disabled, so the first reason (and time) recorded stays.
DISABLE_ENDPOINT: Final[TextClause] = text(
    f"""
    UPDATE webhook_endpoints
    SET enabled = false, disabled_reason = :reason, disabled_at = :now, disabled_by = :by,
        updated_at = now()
    WHERE id = :endpoint_id AND enabled
    RETURNING {_ENDPOINT_COLUMNS}
    """
)

# The old secret keeps signing (beside the new one) until previous_secret_until, so
# receivers can switch without dropping a delivery.
ROTATE_SECRET: Final[TextClause] = text(
    f"""
    UPDATE webhook_endpoints
    SET previous_secret = secret, secret = :secret,
        previous_secret_until = now() + make_interval(secs => :overlap_seconds),
        updated_at = now()
    WHERE id = :endpoint_id
    RETURNING {_ENDPOINT_COLUMNS}
    """
)

DELETE_ENDPOINT: Final[TextClause] = text(
    "DELETE FROM webhook_endpoints WHERE id = :endpoint_id RETURNING id"
)

# --- deliveries: what the API shows and redelivers ---------------------------------------

_DELIVERY_COLUMNS: Final = """
    id, endpoint_id, message_id, event_type, state, attempts, next_attempt_at,
    first_attempt_at, last_attempt_at, last_duration_ms, last_status_code, last_error,
    last_response, delivered_at, created_at
"""

# Newest first, keyset on id.
DELIVERIES_PAGE: Final[TextClause] = text(
    f"""
    SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries
    WHERE endpoint_id = :endpoint_id
      AND (CAST(:state AS text) IS NULL OR state = :state)
      AND (CAST(:before_id AS bigint) IS NULL OR id < :before_id)
    ORDER BY id DESC
    LIMIT :limit
    """
)

GET_DELIVERY: Final[TextClause] = text(
    f"""
    SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries
    WHERE id = :delivery_id AND endpoint_id = :endpoint_id
    """
)

# A finished delivery (delivered, failed or dead) starts again with a fresh set of attempts;
# the message, so the webhook-id, stays the same. One still queued or in flight is left be.
REDELIVER_ONE: Final[TextClause] = text(
    f"""
    UPDATE webhook_deliveries
    SET state = 'pending', attempts = 0, next_attempt_at = :now, locked_by = NULL,
        locked_until = NULL, delivered_at = NULL
    WHERE id = :delivery_id AND endpoint_id = :endpoint_id
      AND state IN ('delivered', 'failed', 'dead')
    RETURNING {_DELIVERY_COLUMNS}
    """
)

# "Everything that failed since the outage began": deliveries created at or after :since.
REDELIVER_FAILED: Final[TextClause] = text(
    """
    UPDATE webhook_deliveries
    SET state = 'pending', attempts = 0, next_attempt_at = :now, locked_by = NULL,
        locked_until = NULL
    WHERE endpoint_id = :endpoint_id AND state IN ('failed', 'dead') AND created_at >= :since
    RETURNING id
    """
)

# Redeliveries are updates, which fire no insert trigger: wake the deliverers by hand.
NOTIFY_DELIVERERS: Final[TextClause] = text("SELECT pg_notify('replyguard_webhooks', '')")

INSERT_MESSAGE: Final[TextClause] = text(
    """
    INSERT INTO webhook_messages (id, event_type, site_id, body, created_at)
    VALUES (:message_id, :event_type, :site_id, :body, :created_at)
    ON CONFLICT (id) DO NOTHING
    """
)

INSERT_DELIVERY: Final[TextClause] = text(
    f"""
    INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, next_attempt_at)
    VALUES (:endpoint_id, :message_id, :event_type, :now)
    RETURNING {_DELIVERY_COLUMNS}
    """
)

DELIVERY_STATS: Final[TextClause] = text(
    """
    SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
           count(*) FILTER (WHERE state = 'delivering') AS delivering,
           count(*) FILTER (WHERE state = 'dead') AS dead,
           count(*) FILTER (WHERE state = 'failed') AS failed,
           (SELECT count(*) FROM outbox WHERE fanned_out_at IS NULL) AS unfanned
    FROM webhook_deliveries
    """
)

# --- the fan-out: outbox rows into deliveries -------------------------------------------

# The oldest events not yet fanned out, with what the event body tells about the comment.
#   FOR UPDATE OF o SKIP LOCKED  two deliverers take different rows; the comment side of
#                                the outer join cannot (and need not) be locked
#   LEFT JOIN                    an event whose comment is gone is still sent, with its id
#   replyguard_article_link      the article's link only on one of the site's origins
CLAIM_OUTBOX: Final[TextClause] = text(
    """
    SELECT o.id, o.event_type, o.site_id, o.comment_id, o.payload, o.created_at,
           c.article_id, c.parent_id, c.author_name, c.body, c.status, c.scores,
           c.explanation, c.created_at AS comment_created_at,
           a.title AS article_title, replyguard_article_link(a.url, a.site_id) AS article_url
    FROM outbox o
    LEFT JOIN comments c ON c.id = o.comment_id
    LEFT JOIN articles a ON a.site_id = c.site_id AND a.id = c.article_id
    WHERE o.fanned_out_at IS NULL
    ORDER BY o.seq
    LIMIT :limit
    FOR UPDATE OF o SKIP LOCKED
    """
)

# One delivery per (message, enabled endpoint that wants the event type for that site).
# An endpoint hears only events that happened after it was registered. ON CONFLICT makes a
# second fan-out of the same message (which the outbox mark prevents anyway) harmless.
FAN_OUT_DELIVERIES: Final[TextClause] = text(
    """
    INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, next_attempt_at)
    SELECT e.id, m.id, m.event_type, :now
    FROM webhook_messages m
    JOIN webhook_endpoints e
      ON e.enabled AND m.event_type = ANY(e.events)
     AND (e.site_id IS NULL OR e.site_id = m.site_id)
     AND e.created_at <= m.created_at
    WHERE m.id = ANY(CAST(:message_ids AS uuid[]))
    ON CONFLICT (endpoint_id, message_id) DO NOTHING
    RETURNING id
    """
)

MARK_FANNED_OUT: Final[TextClause] = text(
    """
    UPDATE outbox SET fanned_out_at = now()
    WHERE id = ANY(CAST(:outbox_ids AS uuid[]))
    """
)

# --- the deliverer: claim, record, release ----------------------------------------------

# The claim: one statement picks ready deliveries, marks them taken and returns everything
# an attempt needs.
#   ready   pending deliveries that are due, and in-flight ones whose lease ran out (their
#           deliverer died), for enabled endpoints not already at this process's bound
#   rank    at most :per_endpoint per endpoint per claim, so one slow receiver with a
#           backlog cannot take every slot
#   picked  SKIP LOCKED lets many deliverers claim side by side; the readiness test is
#           repeated here because a row locked after a wait is re-checked only against
#           this level's conditions
#   UPDATE  sets the lease; attempts is counted when the attempt ends, not here, so a
#           deliverer killed mid-request does not use up the receiver's retries
CLAIM_DELIVERIES: Final[TextClause] = text(
    """
    WITH ready AS (
        SELECT d.id,
               row_number() OVER (PARTITION BY d.endpoint_id
                                  ORDER BY d.next_attempt_at, d.id) AS rank
        FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE e.enabled
          AND NOT (d.endpoint_id = ANY(CAST(:busy AS uuid[])))
          AND ((d.state = 'pending' AND d.next_attempt_at <= :now)
               OR (d.state = 'delivering' AND d.locked_until < :now))
    ),
    picked AS (
        SELECT d.id FROM webhook_deliveries d JOIN ready r ON r.id = d.id
        WHERE r.rank <= :per_endpoint
          AND ((d.state = 'pending' AND d.next_attempt_at <= :now)
               OR (d.state = 'delivering' AND d.locked_until < :now))
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET state = 'delivering', locked_by = :worker_id,
        locked_until = CAST(:now AS timestamptz) + make_interval(secs => :lease_seconds)
    FROM picked, webhook_endpoints e, webhook_messages m
    WHERE d.id = picked.id AND e.id = d.endpoint_id AND m.id = d.message_id
    RETURNING d.id, d.endpoint_id, d.message_id, d.event_type, d.attempts, e.url, e.secret,
              CASE WHEN e.previous_secret_until > :now THEN e.previous_secret END
                  AS previous_secret,
              m.body
    """
)

# Record one finished attempt. Only the lease holder may: if the lease ran out and another
# deliverer took the delivery over, its result is the one that counts.
RECORD_ATTEMPT: Final[TextClause] = text(
    """
    UPDATE webhook_deliveries
    SET state = :state, attempts = attempts + 1,
        next_attempt_at = COALESCE(CAST(:next_attempt_at AS timestamptz), next_attempt_at),
        locked_by = NULL, locked_until = NULL,
        first_attempt_at = COALESCE(first_attempt_at, :started_at),
        last_attempt_at = :started_at, last_duration_ms = :duration_ms,
        last_status_code = :status_code, last_error = :error, last_response = :response,
        delivered_at = CASE WHEN :state = 'delivered' THEN CAST(:finished_at AS timestamptz) END
    WHERE id = :delivery_id AND locked_by = :worker_id AND state = 'delivering'
    RETURNING endpoint_id
    """
)

ENDPOINT_SUCCEEDED: Final[TextClause] = text(
    """
    UPDATE webhook_endpoints SET failing_since = NULL
    WHERE id = :endpoint_id AND failing_since IS NOT NULL
    """
)

# The first failure since the last success starts the clock on auto-disabling.
ENDPOINT_FAILED: Final[TextClause] = text(
    """
    UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, :now)
    WHERE id = :endpoint_id
    RETURNING failing_since, enabled
    """
)

# On shutdown a deliverer hands back what it did not finish; nothing is counted.
RELEASE_DELIVERIES: Final[TextClause] = text(
    """
    UPDATE webhook_deliveries
    SET state = 'pending', locked_by = NULL, locked_until = NULL
    WHERE id = ANY(CAST(:delivery_ids AS bigint[])) AND locked_by = :worker_id
      AND state = 'delivering'
    """
)

# --- retention: what is past REPLYGUARD_WEBHOOK_RETENTION_DAYS ----------------------------
# Each statement deletes at most :limit rows, so a first purge of a large backlog is many
# short transactions (short locks, WAL in small bursts), not one long one. SKIP LOCKED: a
# row another transaction holds (a redelivery, a fan-out, an erasure) is left for the next
# run. Rows are picked in no particular order: the partial indexes find old ones directly,
# and "id = ANY(ARRAY(...))" deletes the picked ids by key (with "IN (...)" the planner
# hashes them and scans the whole table, on every batch).
# The audit log is never touched: it is the record of who decided what.

# Finished deliveries (delivered, failed, dead) whose last attempt, or creation if never
# attempted, is older than :before. Pending and in-flight ones are never deleted, however
# old: they are still owed to a receiver.
PURGE_DELIVERIES: Final[TextClause] = text(
    """
    DELETE FROM webhook_deliveries
    WHERE id = ANY(ARRAY(
        SELECT id FROM webhook_deliveries
        WHERE state IN ('delivered', 'failed', 'dead')
          AND COALESCE(last_attempt_at, created_at) < :before
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ))
    """
)

# Messages older than :before that no delivery refers to any more. The foreign key would
# cascade to deliveries, so the NOT EXISTS is what keeps a pending delivery's body alive.
PURGE_MESSAGES: Final[TextClause] = text(
    """
    DELETE FROM webhook_messages
    WHERE id = ANY(ARRAY(
        SELECT m.id FROM webhook_messages m
        WHERE m.created_at < :before
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id)
        LIMIT :limit
        FOR UPDATE OF m SKIP LOCKED
    ))
    """
)

# Outbox events fanned out before :before whose message is gone. Never one still waiting
# for fan-out (fanned_out_at null); and never while its message exists, because erasing a
# comment rewrites the message through its outbox row (replyguard_erase_webhook_messages).
PURGE_OUTBOX: Final[TextClause] = text(
    """
    DELETE FROM outbox
    WHERE id = ANY(ARRAY(
        SELECT o.id FROM outbox o
        WHERE o.fanned_out_at < :before
          AND NOT EXISTS (SELECT 1 FROM webhook_messages m WHERE m.id = o.id)
        LIMIT :limit
        FOR UPDATE OF o SKIP LOCKED
    ))
    """
)
