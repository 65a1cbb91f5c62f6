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
