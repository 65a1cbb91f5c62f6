-- --- issue 14: plans that stay bounded whatever the statistics ---------------------------
-- After five executions a pooled connection may keep one generic plan of a statement for
-- good, built while a table was nearly empty, and reuse it when the table holds millions
-- (statistics can be stale; autovacuum can be off). On a near-empty table every index costs
-- about the same, so such a plan can take any index whose leading column the statement
-- names and filter the rest. These indexes leave each hot statement one index that fits.

-- The repost check (INSERT_COMMENT) looks up one author's one text, newest first. The index
-- it had led with site_id, so a generic plan could take it (or any site_id-led index) for
-- a scan of the whole site; leading with the author (author_key is a hash that includes
-- the site) no other index can answer it.
CREATE INDEX IF NOT EXISTS comments_author_text_idx
    ON comments (author_key, body_hash, created_at DESC);
DROP INDEX IF EXISTS comments_repost_idx;

-- The backlog check's oldest pending comment per site is the first entry of
-- comments_queue_age_idx (site_id, status, created_at, id). This partial index only
-- duplicated that, and a generic plan built on a near-empty table took it for the
-- worker's "decide this pending comment" (id = ... AND status = 'pending'), reading every
-- pending comment instead of one row by primary key.
DROP INDEX IF EXISTS comments_pending_idx;

-- The queue's "highest score first" page orders by coalesce(max_score, 0), id (unscored
-- comments last): the index now holds that expression, so a page is read from it in order
-- instead of sorting every held comment of the site.
CREATE INDEX IF NOT EXISTS comments_queue_top_score_idx
    ON comments (site_id, status, (coalesce(max_score, 0)) DESC, id DESC);
DROP INDEX IF EXISTS comments_queue_score_idx;

-- Cost: a migration runs in one transaction, so these CREATE INDEX cannot be CONCURRENTLY.
-- Each holds a SHARE lock on comments while it builds: reads go on, but new comments,
-- status changes and scores wait until it is done, about as long as reading the table
-- once and sorting its keys. Measured on 1,000,000 comments on a shared 2-vCPU machine:
-- 3.6 s and 5.1 s, so roughly a minute and a half per ten million comments. On a large,
-- busy table, first run both CREATE INDEX statements above as CREATE INDEX CONCURRENTLY
-- IF NOT EXISTS, outside a transaction; this migration then finds them and only drops the
-- three old indexes (DROP INDEX holds its exclusive lock on comments only for an instant).
