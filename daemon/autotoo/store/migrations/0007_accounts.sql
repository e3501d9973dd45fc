-- autotoo state, schema 7: several accounts (issue 21). A rule names the Swift account (and
-- UKSSDC user id) its requests use; the submitter, the tracker and reconciliation use that
-- account's credentials and listing, also after a restart, so each row keeps it.
--
-- The account is part of the request (whose credentials send it, as the budget is whose
-- policy it is): `request.account`, absent for the default account, so every earlier row
-- reads as the default account, which is what sent it. A rule that takes over an unsent
-- request, or a reload that changes a rule's account, re-renders the request with it, so
-- the account cannot drift from the request it belongs to. Budgets count the TOOs sent per
-- account: this column, generated from the request (VIRTUAL: nothing is rewritten, and
-- upgrading a large file is instant), and an index like 0002's make that count a search.
ALTER TABLE submissions ADD COLUMN account TEXT NOT NULL
    GENERATED ALWAYS AS (COALESCE(json_extract(request, '$.account'), 'default')) VIRTUAL;
CREATE INDEX submissions_account_sent ON submissions (api, account, sent_at);
