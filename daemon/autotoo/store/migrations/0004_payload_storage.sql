-- autotoo state, schema 4: raw payloads stored compressed, and pruned by a retention policy.
--
-- `encoding` says how `raw` holds the bytes received: 'identity' (as received; every row
-- written before this schema) or 'zlib' (store/payloads.py compresses large payloads, e.g.
-- IGWN alerts with a sky map). `digest` and `dedup_key` stay over the exact bytes received.
-- `raw_size` is their length (NULL on older rows: length(raw), which is the same there; not
-- filled in here, because an UPDATE of every row would rewrite every stored payload).
-- `pruned_at`: when the retention policy dropped the payload (store/retention.py); `raw` is
-- then empty, and the row, its digest, size and normalized alert stay.
ALTER TABLE inbox ADD COLUMN encoding TEXT NOT NULL DEFAULT 'identity'
    CHECK (encoding IN ('identity', 'zlib'));
ALTER TABLE inbox ADD COLUMN raw_size INTEGER;
ALTER TABLE inbox ADD COLUMN pruned_at TEXT;
-- The pruner's scan and the sizes /metrics reports come from this index alone: in a row,
-- every column after `raw` lies behind the payload's overflow pages, and reading one walks
-- all of them (~0.2 ms per 1 MB sky map, measured). It replaces the (status, id) index the
-- processor reads 'new' rows by, which it still serves, instead of adding one: the inbox
-- insert of a notice then maintains one index entry, as before (a second index cost ~12 us
-- of its ~60 us; the wider entry ~1 us; docs/performance.md).
DROP INDEX inbox_status;
CREATE INDEX inbox_status ON inbox (
    status, id, pruned_at, received_at, topic, raw_size, length(raw)
);
