-- --- issue 9, readers: trusted article links, removed comments in the thread ----------------

-- An article's url as moderators and staff may see it: the url while its origin
-- (scheme://host[:port], lower-cased) is one of its site's allowed_origins, else null. The
-- web layer stores only such urls; this also hides a link stored before that check, or on
-- an origin the site has since dropped. (service.validation.url_origin is the same test.)
CREATE OR REPLACE FUNCTION replyguard_article_link(url text, site text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT url FROM sites s
    WHERE s.id = site
      AND lower(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*')) = ANY (s.allowed_origins)
$$;

-- The thread shows a rejected comment as "removed" while approved replies hang from it.
-- answered: some reply names this comment as its parent (set by the reply's insert, never
-- unset), so the thread looks for removed comments only among the few rejected comments
-- that were answered, not among every rejected one (spam is rarely answered). The UPDATE
-- fills it in on a database that already holds replies.
ALTER TABLE comments ADD COLUMN IF NOT EXISTS answered boolean NOT NULL DEFAULT false;
UPDATE comments p SET answered = true
WHERE NOT p.answered AND EXISTS (SELECT 1 FROM comments k WHERE k.parent_id = p.id);
CREATE INDEX IF NOT EXISTS comments_removed_idx
    ON comments (site_id, article_id, created_at, id)
    WHERE status = 'rejected' AND answered AND parent_id IS NULL;
