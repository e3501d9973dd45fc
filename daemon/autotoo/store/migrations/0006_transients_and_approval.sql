-- autotoo: foreign keys off
-- autotoo state, schema 6: transients (several missions' events of one source on the sky)
-- and requests that wait for a human's approval.
--
-- The submissions table is rebuilt (SQLite cannot change a CHECK constraint in place) with
-- the foreign keys off, as SQLite's documented procedure for a table change says; the
-- runner checks every foreign key before it commits (PRAGMA foreign_key_check).

-- One astrophysical source seen by one or more missions. `key` is the group key of its
-- first event prefixed "T:", so a replay of the same alerts names it the same way.
CREATE TABLE transients (
    id            INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    trigger_time  TEXT,                    -- the earliest trigger time of its events
    last_trigger  TEXT,                    -- the latest (candidates: the two bracket a time)
    ra            REAL,                    -- its best localisation so far
    dec           REAL,
    error_deg     REAL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX transients_time ON transients (last_trigger, trigger_time);

-- Which transient each event belongs to, and why: an event is associated once, when its
-- first alert is evaluated, and never moves ("joined because ..." / "new transient: ...").
CREATE TABLE associations (
    event_id      INTEGER PRIMARY KEY REFERENCES events (id),
    transient_id  INTEGER NOT NULL REFERENCES transients (id),
    alert_id      INTEGER NOT NULL REFERENCES alerts (id),
    joined        INTEGER NOT NULL,        -- 1: joined an existing transient; 0: started it
    reason        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX associations_transient ON associations (transient_id, event_id);

CREATE TABLE submissions_new (
    id                INTEGER PRIMARY KEY,
    key               TEXT    NOT NULL UNIQUE,
    api               TEXT    NOT NULL CHECK (api IN ('swift_too', 'ukssdc_xrt')),
    rule              TEXT    NOT NULL,
    event_id          INTEGER NOT NULL REFERENCES events (id),
    action            TEXT    NOT NULL,
    attempt           INTEGER NOT NULL DEFAULT 0,
    parent_id         INTEGER REFERENCES submissions (id),
    state             TEXT    NOT NULL CHECK (state IN ('planned', 'submitting', 'submitted',
                      'tracking', 'done', 'rejected', 'failed', 'cancelled', 'unknown',
                      'needs_human', 'needs_approval')),
    request           TEXT    NOT NULL,
    remote_id         TEXT,
    sent_at           TEXT,
    not_before        TEXT,
    next_at           TEXT,
    reason            TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    reconcile_missing INTEGER NOT NULL DEFAULT 0,
    reconcile_errors  INTEGER NOT NULL DEFAULT 0,
    first_try_at      TEXT,
    transient_id      INTEGER REFERENCES transients (id),
    approval_deadline TEXT,                -- needs_approval: lapses after this time
    approved_by       TEXT,                -- who approved it (`autotoo jobs approve`)
    approved_at       TEXT
) STRICT;
INSERT INTO submissions_new (
    id, key, api, rule, event_id, action, attempt, parent_id, state, request, remote_id,
    sent_at, not_before, next_at, reason, created_at, updated_at, reconcile_missing,
    reconcile_errors, first_try_at
)
SELECT
    id, key, api, rule, event_id, action, attempt, parent_id, state, request, remote_id,
    sent_at, not_before, next_at, reason, created_at, updated_at, reconcile_missing,
    reconcile_errors, first_try_at
FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_new RENAME TO submissions;
CREATE INDEX submissions_state ON submissions (state, next_at);
CREATE INDEX submissions_event ON submissions (event_id);
CREATE INDEX submissions_sent ON submissions (api, sent_at);
CREATE INDEX submissions_transient ON submissions (transient_id) WHERE transient_id IS NOT NULL;
