-- autotoo state, schema 3: duplicates by content are recognised after parsing, not before.
--
-- Up to schema 2 the inbox keyed a VOEvent by an IVORN found in its first 4 KB, whether or
-- not the payload parsed: a truncated copy that arrived first made the complete notice a
-- "duplicate" of an unparsed row, and it was never evaluated. The inbox now keys every
-- message by its topic and exact payload digest; the processor gives each *parsed* alert its
-- identity (the VOEvent IVORN) and marks a later copy of a parsed alert as processed, with
-- `duplicate_of` naming the inbox row of the first. Existing rows keep their keys.
ALTER TABLE alerts ADD COLUMN identity TEXT;
ALTER TABLE inbox ADD COLUMN duplicate_of INTEGER REFERENCES inbox (id);

-- The alerts stored so far: the first of each IVORN (their copies were merged in the inbox).
UPDATE alerts SET identity = 'ivorn:' || json_extract(normalized, '$.ivorn')
WHERE id IN (
    SELECT MIN(id) FROM alerts
    WHERE json_extract(normalized, '$.ivorn') IS NOT NULL
    GROUP BY json_extract(normalized, '$.ivorn')
);
CREATE UNIQUE INDEX alerts_identity ON alerts (identity) WHERE identity IS NOT NULL;
