-- --- staff leave: token use, and an audit of changes to who has access (issue 9) ---------
-- service.staff_store runs these tables' SQL (service.staff_queries).

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
