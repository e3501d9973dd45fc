-- autotoo state, schema 2: budgets count TOOs by sent_at per API (and rule) on every
-- submission; without an index each check scanned the whole outbox.
CREATE INDEX submissions_sent ON submissions (api, sent_at);
