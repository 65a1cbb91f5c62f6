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
