-- Schema 7 on PostgreSQL: the request's account as an indexed column, generated from the
-- request as in SQLite's 0007_accounts.sql (which says why). PostgreSQL generates only
-- STORED columns, so this rewrites the table once; the text -> jsonb cast is immutable.
ALTER TABLE submissions ADD COLUMN account TEXT NOT NULL
    GENERATED ALWAYS AS (COALESCE(request::jsonb ->> 'account', 'default')) STORED;
CREATE INDEX submissions_account_sent ON submissions (api, account, sent_at);
