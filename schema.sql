-- replyguard's whole schema: the one DDL source.
--
-- The service applies this file at start, under an advisory lock, so every statement must be
-- idempotent (IF NOT EXISTS, CREATE OR REPLACE). Every process boundary in replyguard goes
-- through these tables: there is no other broker.

CREATE TABLE IF NOT EXISTS replyguard_schema (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     integer NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- A site publishing articles. Its policy is JSON in the shape moderation.policy reads;
-- policy_version grows with each change and is recorded in every decision.
CREATE TABLE IF NOT EXISTS sites (
    id               text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name             text NOT NULL,
    allowed_origins  text[] NOT NULL DEFAULT '{}',
    policy           jsonb NOT NULL DEFAULT '{}',
    policy_version   integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Articles are created on their first comment. policy_override replaces any fields of the
-- site's policy until override_until (for ever when null).
CREATE TABLE IF NOT EXISTS articles (
    site_id          text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    id               text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
    url              text,
    title            text,
    policy_override  jsonb,
    override_version integer NOT NULL DEFAULT 0,
    override_until   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, id)
);

CREATE TABLE IF NOT EXISTS comments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    site_id            text NOT NULL,
    article_id         text NOT NULL,
    parent_id          uuid REFERENCES comments (id),
    body               text NOT NULL,
    author_name        text NOT NULL,
    author_email       text,
    author_token_hash  bytea NOT NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'approved', 'held', 'rejected')),
    -- The latest model scores and decision, denormalised for the queue and the thread;
    -- comment_scores and audit_log keep the history.
    scores             jsonb,
    max_score          real,
    explanation        jsonb,
    status_reason      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    status_changed_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (site_id, article_id) REFERENCES articles (site_id, id)
);

-- The public thread: approved comments of one article, oldest first.
CREATE INDEX IF NOT EXISTS comments_thread_idx
    ON comments (site_id, article_id, created_at, id) WHERE status = 'approved';
-- The moderators' queue, oldest first and highest score first.
CREATE INDEX IF NOT EXISTS comments_queue_age_idx
    ON comments (site_id, status, created_at, id);
CREATE INDEX IF NOT EXISTS comments_queue_score_idx
    ON comments (site_id, status, max_score DESC, id);
CREATE INDEX IF NOT EXISTS comments_parent_idx ON comments (parent_id) WHERE parent_id IS NOT NULL;

-- One row per comment to score. A job is claimed by setting locked_by/locked_until; a job
-- whose lease has run out is claimable again, so a killed worker loses nothing.
CREATE TABLE IF NOT EXISTS scoring_jobs (
    comment_id    uuid PRIMARY KEY REFERENCES comments (id) ON DELETE CASCADE,
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    run_after     timestamptz NOT NULL DEFAULT now(),
    locked_by     text,
    locked_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS scoring_jobs_ready_idx
    ON scoring_jobs (run_after) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS scoring_jobs_lease_idx
    ON scoring_jobs (locked_until) WHERE state = 'running';

-- Wake idle workers at once; they also poll, in case a notification is lost.
CREATE OR REPLACE FUNCTION replyguard_notify_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('replyguard_jobs', '');
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS scoring_jobs_notify ON scoring_jobs;
CREATE TRIGGER scoring_jobs_notify
    AFTER INSERT ON scoring_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION replyguard_notify_job();

-- Every score a model gave. The unique key makes "scored once per model version" a fact
-- the database enforces, however many times a job runs.
CREATE TABLE IF NOT EXISTS comment_scores (
    comment_id     uuid NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    model_name     text NOT NULL,
    model_version  text NOT NULL,
    scores         jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, model_name, model_version)
);

-- Every status change: who (system, model or a moderator), why and when.
CREATE TABLE IF NOT EXISTS audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    comment_id   uuid NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    site_id      text NOT NULL,
    from_status  text,
    to_status    text NOT NULL,
    actor_kind   text NOT NULL CHECK (actor_kind IN ('system', 'model', 'moderator')),
    actor        text NOT NULL,
    reason       text,
    explanation  jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_comment_idx ON audit_log (comment_id, id);

-- Events for staff systems, written in the transaction that caused them; the webhook
-- deliverer reads them from here.
CREATE TABLE IF NOT EXISTS outbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_type  text NOT NULL,
    site_id     text,
    comment_id  uuid,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Bearer tokens for moderators and admins. Only a SHA-256 of the token is kept.
-- sites is null for an admin of every site.
CREATE TABLE IF NOT EXISTS api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('moderator', 'admin')),
    sites         text[],
    label         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    CHECK (role = 'admin' OR sites IS NOT NULL)
);

-- Live worker processes, for /readyz ("a scorer loaded") and for operators.
CREATE TABLE IF NOT EXISTS workers (
    id             text PRIMARY KEY,
    hostname       text NOT NULL,
    pid            integer NOT NULL,
    model_name     text,
    model_version  text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO replyguard_schema (version) VALUES (1)
ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, applied_at = now()
WHERE replyguard_schema.version < EXCLUDED.version;
