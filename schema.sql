-- replyguard's whole current schema: a snapshot of what service/store/migrations/ add up to.
--
-- Databases in service get here through the numbered migrations (service/store/migrations/
-- NNNN_what.sql, run by `replyguard migrate` and at every start; see service/schema.py).
-- Tests and benchmarks load this file directly. A change goes in both places: a new
-- migration, and here (with its row in schema_migrations below); a test checks that the
-- migrations and this file give the same schema. Every process boundary in replyguard goes
-- through these tables: there is no other broker.

-- The migrations this snapshot holds: a database loaded from it is at the last one.
-- checksum is null here because no migration file ran (service.store.migration_queries).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY CHECK (version > 0),
    name        text NOT NULL,
    checksum    text,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_migrations (version, name) VALUES
    (1, 'initial'),
    (2, 'webhook_retention'),
    (3, 'staff_audit'),
    (4, 'readers'),
    (5, 'shared_rate_limits'),
    (6, 'plans_that_stay_bounded'),
    (7, 'authors'),
    (8, 'shadow_scores'),
    (9, 'policy_audit'),
    (10, 'model_promotions')
ON CONFLICT (version) DO NOTHING;

-- The release before migrations kept its schema's version and checksum here; a database
-- with this table and no schema_migrations is one it made (service.store.schema recognises it).
-- Kept so that release's processes still start against an upgraded database.
CREATE TABLE IF NOT EXISTS replyguard_schema (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     integer NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE replyguard_schema ADD COLUMN IF NOT EXISTS checksum text;

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
    -- Who wrote it, for rate limits and repost detection: a hash of the email, or of the
    -- name and network when no email is given. body_hash spots the same text posted again.
    author_key         bytea,
    body_hash          bytea,
    report_count       integer NOT NULL DEFAULT 0,
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
CREATE INDEX IF NOT EXISTS comments_queue_top_score_idx
    ON comments (site_id, status, (coalesce(max_score, 0)) DESC, id DESC);
CREATE INDEX IF NOT EXISTS comments_parent_idx ON comments (parent_id) WHERE parent_id IS NOT NULL;
-- The repost check looks up one author's one text, newest first: an exact match, however
-- busy the author or the site. It leads with the author (author_key is per site), so no plan
-- can take it for a scan of the site (migration 0006).
CREATE INDEX IF NOT EXISTS comments_author_text_idx
    ON comments (author_key, body_hash, created_at DESC);
DROP INDEX IF EXISTS comments_author_recent_idx;
CREATE INDEX IF NOT EXISTS comments_author_email_idx ON comments (lower(author_email));

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

-- Idempotency-Key of comment submissions, per site. The stored answer is replayed for a
-- retry with the same key and body; rows older than a day are swept by the workers.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    site_id       text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_age_idx ON idempotency_keys (created_at);

-- Readers' reports: one per reader (a hash of the reader's network, see issue 9 below)
-- per comment.
CREATE TABLE IF NOT EXISTS comment_reports (
    comment_id  uuid NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    reader_key  bytea NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, reader_key)
);

-- A site's scoring backlog past its limit, from when it began to when it cleared; at most
-- one open episode per site, so queue.backlog fires once per episode.
CREATE TABLE IF NOT EXISTS backlog_episodes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    oldest_age    double precision NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS backlog_episodes_open_idx
    ON backlog_episodes (site_id) WHERE ended_at IS NULL;

INSERT INTO replyguard_schema (version) VALUES (1)
ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, applied_at = now()
WHERE replyguard_schema.version < EXCLUDED.version;

-- --- webhooks ---------------------------------------------------------------------------
-- Staff endpoints that hear about moderation events. The deliverer (service.webhooks) fans
-- each outbox row out into one delivery per matching endpoint, in one transaction with the
-- row's fanned_out_at mark, so a killed process loses nothing and duplicates nothing.

-- An endpoint. The secret signs every delivery (Standard Webhooks) and so is kept as is;
-- during a rotation the previous one signs too, until previous_secret_until.
-- site_id null: every site (only an all-sites admin may create one).
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url                    text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    site_id                text REFERENCES sites (id) ON DELETE CASCADE,
    events                 text[] NOT NULL CHECK (cardinality(events) > 0),
    description            text NOT NULL DEFAULT '',
    secret                 text NOT NULL,
    previous_secret        text,
    previous_secret_until  timestamptz,
    enabled                boolean NOT NULL DEFAULT true,
    -- Why and when it was disabled, and by whom ('system' for 410 or days of failure).
    disabled_reason        text,
    disabled_at            timestamptz,
    disabled_by            text,
    -- The first failed attempt since the last success; null while the endpoint is healthy.
    failing_since          timestamptz,
    created_by             text NOT NULL DEFAULT '',
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_site_idx ON webhook_endpoints (site_id);

-- One event as sent: its id is the webhook-id header (the outbox row's id, so the same on
-- every retry and redelivery), body the exact bytes that are signed.
CREATE TABLE IF NOT EXISTS webhook_messages (
    id          uuid PRIMARY KEY,
    event_type  text NOT NULL,
    site_id     text,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One message to one endpoint. Claimed like a scoring job (locked_by/locked_until); a
-- delivery whose lease ran out is claimable again. attempts counts finished attempts only,
-- so a deliverer killed mid-request does not use up the receiver's retries.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id        uuid NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    event_type        text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivering', 'delivered', 'failed', 'dead')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    locked_by         text,
    locked_until      timestamptz,
    first_attempt_at  timestamptz,
    last_attempt_at   timestamptz,
    last_duration_ms  integer,
    last_status_code  integer,
    last_error        text,
    last_response     text,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, message_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_ready_idx
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_lease_idx
    ON webhook_deliveries (locked_until) WHERE state = 'delivering';
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint_idx
    ON webhook_deliveries (endpoint_id, id);

-- The fan-out's mark on the outbox: null until the row's deliveries exist.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS fanned_out_at timestamptz;
CREATE INDEX IF NOT EXISTS outbox_unfanned_idx ON outbox (seq) WHERE fanned_out_at IS NULL;

-- Wake idle deliverers at once on a new event or delivery; they also poll.
CREATE OR REPLACE FUNCTION replyguard_notify_webhooks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('replyguard_webhooks', '');
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS outbox_notify_webhooks ON outbox;
CREATE TRIGGER outbox_notify_webhooks
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION replyguard_notify_webhooks();
DROP TRIGGER IF EXISTS webhook_deliveries_notify ON webhook_deliveries;
CREATE TRIGGER webhook_deliveries_notify
    AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION replyguard_notify_webhooks();

-- --- moderator page: users, sessions, sign-in slow-down, claims ---------------------------
-- service.store.review runs these tables' SQL (service.store.review_queries).

-- People who sign in to /moderate. The password is an Argon2id hash (PHC string); sites is
-- null for an admin of every site, as for api_tokens.
CREATE TABLE IF NOT EXISTS users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('moderator', 'admin')),
    sites          text[],
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    CHECK (role = 'admin' OR sites IS NOT NULL)
);

-- A signed-in browser. Only a SHA-256 of the cookie's secret is kept. A session ends when
-- idle too long (last_seen_at) or at expires_at, whichever comes first.
CREATE TABLE IF NOT EXISTS user_sessions (
    id_hash       bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    user_agent    text NOT NULL DEFAULT '',
    remote        text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX IF NOT EXISTS user_sessions_expiry_idx ON user_sessions (expires_at);

-- Failed sign-ins per user name ('name:ann') and per client address ('addr:10.0.0.1'):
-- past a few failures each further try waits longer (blocked_until).
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key             text PRIMARY KEY,
    failures        integer NOT NULL,
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz
);

-- Who is looking at a queued comment right now, so two moderators do not work the same
-- one. A claim lapses at expires_at; an actor holds one claim at a time.
CREATE TABLE IF NOT EXISTS review_claims (
    comment_id  uuid PRIMARY KEY REFERENCES comments (id) ON DELETE CASCADE,
    site_id     text NOT NULL,
    actor       text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS review_claims_site_idx ON review_claims (site_id, expires_at);
CREATE INDEX IF NOT EXISTS review_claims_actor_idx ON review_claims (actor);

-- The live queue polls recent status changes of its sites.
CREATE INDEX IF NOT EXISTS audit_log_site_time_idx ON audit_log (site_id, created_at);

-- Erasing a comment rewrites its outbox events (payload gains "erased"); the rendered
-- webhook bodies of those events hold its words too, so they are cut down the same way.
-- A delivery still pending then sends the erased body, under the same webhook-id.
CREATE OR REPLACE FUNCTION replyguard_erase_webhook_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_messages m
    SET body = jsonb_build_object(
        'type', m.event_type,
        'timestamp', m.body::jsonb -> 'timestamp',
        'data', jsonb_build_object('site_id', m.site_id,
                                   'comment', jsonb_build_object('id', NEW.comment_id),
                                   'erased', true))::text
    WHERE m.id = NEW.id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS outbox_erase_webhook_messages ON outbox;
CREATE TRIGGER outbox_erase_webhook_messages
    AFTER UPDATE OF payload ON outbox
    FOR EACH ROW WHEN (NEW.payload ? 'erased')
    EXECUTE FUNCTION replyguard_erase_webhook_messages();

-- --- issue 9: webhook retention (service.webhooks purge_expired) --------------------------
-- Finished deliveries, unreferenced messages and fanned-out outbox events are deleted after
-- REPLYGUARD_WEBHOOK_RETENTION_DAYS, in batches; these indexes find them without scanning.
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished_idx
    ON webhook_deliveries ((COALESCE(last_attempt_at, created_at)))
    WHERE state IN ('delivered', 'failed', 'dead');
-- "Does any delivery still use this message?", and the cascade when a message is deleted.
CREATE INDEX IF NOT EXISTS webhook_deliveries_message_idx ON webhook_deliveries (message_id);
CREATE INDEX IF NOT EXISTS webhook_messages_created_idx ON webhook_messages (created_at);
CREATE INDEX IF NOT EXISTS outbox_fanned_out_idx
    ON outbox (fanned_out_at) WHERE fanned_out_at IS NOT NULL;

-- --- staff leave: token use, and an audit of changes to who has access (issue 9) ---------
-- service.store.staff runs these tables' SQL (service.store.staff_queries).

-- When a token last authenticated a request, written at most once a minute per token.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS last_used_at timestamptz;

-- Every change to who may use the moderator and admin API: a token created or revoked, a
-- user created, updated (create-user on an existing name), disabled or enabled.
-- actor: the admin's token label or user name, or 'cli:<os user>'.
-- target: 'token:<id>' or 'user:<name>'. sites: the target's sites then (null: every site).
CREATE TABLE IF NOT EXISTS staff_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action      text NOT NULL
                CHECK (action IN ('token.created', 'token.revoked', 'user.created',
                                  'user.updated', 'user.disabled', 'user.enabled')),
    target      text NOT NULL,
    sites       text[],
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS staff_audit_target_idx ON staff_audit (target, id);

-- --- issue 9, readers: trusted article links, removed comments in the thread ----------------

-- An article's url as moderators and staff may see it: the url while its origin
-- (scheme://host[:port], lower-cased) is one of its site's allowed_origins, else null. The
-- web layer stores only such urls; this also hides a link stored before that check, or on
-- an origin the site has since dropped. (service.web.validation.url_origin is the same test.)
CREATE OR REPLACE FUNCTION replyguard_article_link(url text, site text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT url FROM sites s
    WHERE s.id = site
      AND lower(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*')) = ANY (s.allowed_origins)
$$;

-- The thread shows a rejected comment as "removed" while approved replies hang from it.
-- answered: some reply names this comment as its parent (set by the reply's insert, never
-- unset), so the thread looks for removed comments only among the few rejected comments
-- that were answered, not among every rejected one (spam is rarely answered). Migration
-- 0004 fills it in on a database that already holds replies.
ALTER TABLE comments ADD COLUMN IF NOT EXISTS answered boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS comments_removed_idx
    ON comments (site_id, article_id, created_at, id)
    WHERE status = 'rejected' AND answered AND parent_id IS NULL;

-- --- issue 9: limits shared by every web replica; readers' reports per network ----------
-- Rate-limit hits per key ('net:<site>:<network>', 'author:<hash>', 'site:<site>',
-- 'report:<network>') per time bucket (epoch seconds / bucket length). Every web replica
-- counts here, inside the transaction that writes what is counted, so N replicas allow the
-- limit once, not N times. A limit sums the buckets covering its window. Unlogged: no WAL
-- for short-lived counts; a crash only starts the limits afresh. Rows past expires_at no
-- longer count and are swept by the workers.
-- A busy key (a site's) is spread over several shard rows, so its hits need not queue on one.
-- No index on expires_at: the table holds only the last hour's counts, and the sweep's scan
-- of it is cheaper than an index entry on every hit. Free space on each page lets a count's
-- updates stay on its page (HOT), without new index entries.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_hits (
    key         text NOT NULL,
    bucket      bigint NOT NULL,
    shard       smallint NOT NULL DEFAULT 0,
    hits        integer NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (key, bucket, shard)
) WITH (fillfactor = 70);

-- comment_reports.reader_key is now a hash of the reader's network (IPv4 /24, IPv6 /64,
-- as the rate limits count), so a household or a phone's many addresses report once.
-- Rows written before kept a hash of the full address: they stay, each counting as one
-- network (the address cannot be recovered to regroup them).
COMMENT ON COLUMN comment_reports.reader_key IS
    'SHA-256 of the reader''s network (IPv4 /24, IPv6 /64); older rows: of the address';

-- --- issue 12: know the commenters: verified identity, history, trust, sanctions --------
-- An author on a site is its author_key (hex: the public author id). A comment posted with
-- a valid token from the site's own sign-in is verified; every comment before this release,
-- and every one posted without a token, is not.
ALTER TABLE comments ADD COLUMN IF NOT EXISTS author_verified boolean NOT NULL DEFAULT false;

-- The site's SSO secret (HS256 needs the secret itself to verify a token, so it is kept,
-- never returned after it is made, never logged); null: the site has no SSO.
ALTER TABLE sites ADD COLUMN IF NOT EXISTS sso_secret text;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS sso_rotated_at timestamptz;

-- The sanction in force on an author of a site, at most one: a new one replaces it. A ban
-- lasts until lifted (no until); a suspension ends by itself at until.
CREATE TABLE IF NOT EXISTS author_sanctions (
    site_id     text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    author_key  bytea NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('ban', 'suspend')),
    until       timestamptz,
    -- The moderator's words; erasing the author removes them (the sanction stays).
    reason      text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, author_key),
    CHECK ((kind = 'ban') = (until IS NULL))
);

-- Every sanction and lifting: who, what, when. Erasure removes the reason, keeps the facts.
CREATE TABLE IF NOT EXISTS author_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     text NOT NULL,
    author_key  bytea NOT NULL,
    action      text NOT NULL CHECK (action IN ('sanctioned', 'unsanctioned')),
    kind        text CHECK (kind IN ('ban', 'suspend')),
    until       timestamptz,
    reason      text,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS author_audit_author_idx ON author_audit (site_id, author_key, id);

-- --- issue 13: shadow models (service.queue.shadows) -------------------------------------
-- Workers may score every comment with shadow models too (REPLYGUARD_SHADOW_MODELS), after
-- the live decision is committed. Their scores sit beside the live model's, marked shadow,
-- with the verdict the comment's policy would have given on them and the milliseconds per
-- comment they took; they never decide anything. A live row keeps its decision in the
-- audit log, so its verdict and time stay null. The key stays (comment, model, version):
-- shadow rows are written after the comment's live decision, so a model that is both
-- live and shadow for a comment keeps its live row.
ALTER TABLE comment_scores ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'live'
    CHECK (role IN ('live', 'shadow'));
ALTER TABLE comment_scores ADD COLUMN IF NOT EXISTS verdict text
    CHECK (verdict IN ('approved', 'held', 'rejected'));
ALTER TABLE comment_scores ADD COLUMN IF NOT EXISTS score_ms real;
-- GET /v1/models reads the shadow rows alone, however many live rows there are.
CREATE INDEX IF NOT EXISTS comment_scores_shadow_idx
    ON comment_scores (model_name, model_version, comment_id) WHERE role = 'shadow';

-- Each worker's shadow models as it last reported them with its heartbeat: spec, state
-- (loading, loaded, failed), model, load error, comments scored, failed batches, comments
-- skipped; GET /v1/models and /metrics read them.
ALTER TABLE workers ADD COLUMN IF NOT EXISTS shadow_models jsonb NOT NULL DEFAULT '[]';

-- --- issue 13: every change of a site's policy, and who made it -------------------------
-- service.store.sites writes a row in the transaction that changes the policy (PUT
-- /v1/sites/{site}, which the site page's editor and its calibration suggestions use).
-- policy_version: the version the change made (every decision's explanation names the
-- version it was made under, so this is how to read the policy behind a decision).
-- previous: the policy before (null: the site was created). reason: the admin's words, if
-- any ('calibration: toxicity' when a suggestion was applied). actor: the admin's token
-- label or user name. Rows are never changed.
CREATE TABLE IF NOT EXISTS site_policy_audit (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         text NOT NULL,
    policy_version  integer NOT NULL,
    policy          jsonb NOT NULL,
    previous        jsonb,
    reason          text,
    actor           text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS site_policy_audit_site_idx ON site_policy_audit (site_id, id);

-- --- issue 13: promoting a model, and rolling it back --------------------------------------
-- Which model scores a site's comments: the newest row for the site, else the newest row
-- for every site (site_id null), else the workers' REPLYGUARD_MODEL. model is a spec as
-- REPLYGUARD_MODEL takes it; null means "no promotion in force for this scope" (a rollback
-- to before the first promotion). previous: the scope's model before this row (null: none
-- was promoted). action: what the admin did; actor: the admin's token label, user name or
-- 'cli:<os user>'. Rows are never changed: this table is the audit of every change, and
-- workers read the newest rows every few seconds (service.queue.live_models).
CREATE TABLE IF NOT EXISTS model_promotions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     text REFERENCES sites (id) ON DELETE CASCADE,
    model       text CHECK (length(model) BETWEEN 1 AND 500),
    previous    text,
    action      text NOT NULL CHECK (action IN ('promote', 'rollback')),
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS model_promotions_scope_idx
    ON model_promotions ((coalesce(site_id, '')), id DESC);

-- Each worker's promoted models as it last reported them with its heartbeat: spec, the
-- scopes it serves, state (loading, loaded, failed), model and load error; GET /v1/models.
ALTER TABLE workers ADD COLUMN IF NOT EXISTS promoted_models jsonb NOT NULL DEFAULT '[]';

-- `replyguard rescore` stores the live model's scores of past comments as role 'rescore',
-- with the verdict the comment's policy would give them now; they decide nothing.
ALTER TABLE comment_scores DROP CONSTRAINT IF EXISTS comment_scores_role_check;
ALTER TABLE comment_scores ADD CONSTRAINT comment_scores_role_check
    CHECK (role IN ('live', 'shadow', 'rescore'));

-- Promotions and rollbacks are staff changes too: GET /v1/staff-audit lists them beside the
-- tokens and users (target 'model:<spec>', or 'model:none' after a rollback to none; sites:
-- the site, or null for every site).
ALTER TABLE staff_audit DROP CONSTRAINT IF EXISTS staff_audit_action_check;
ALTER TABLE staff_audit ADD CONSTRAINT staff_audit_action_check
    CHECK (action IN ('token.created', 'token.revoked', 'user.created', 'user.updated',
                      'user.disabled', 'user.enabled', 'model.promoted', 'model.rolled_back'));
