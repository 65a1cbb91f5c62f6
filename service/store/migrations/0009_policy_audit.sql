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
