-- autotoo state, schema 5: a submission's bookkeeping in columns of its own.
--
-- Up to schema 4 the request column also held what the daemon noted while handling the row
-- (`_reconcile`: listings that did not show it / that failed; `first_try_at`: the first try
-- of an XRT job retried while the UKSSDC had no data), so "did the request change?" compared
-- bookkeeping too, and a re-rendered request dropped the retry window's start. The request
-- now holds only what is sent and its policies; the bookkeeping moves here.
ALTER TABLE submissions ADD COLUMN reconcile_missing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN reconcile_errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN first_try_at TEXT;

UPDATE submissions SET
    reconcile_missing = COALESCE(json_extract(request, '$._reconcile.missing'), 0),
    reconcile_errors = COALESCE(json_extract(request, '$._reconcile.errors'), 0),
    first_try_at = json_extract(request, '$.first_try_at'),
    request = json_remove(request, '$._reconcile', '$.first_try_at')
WHERE json_type(request, '$._reconcile') IS NOT NULL
    OR json_type(request, '$.first_try_at') IS NOT NULL;
