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
