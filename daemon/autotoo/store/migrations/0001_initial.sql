-- autotoo state, schema 1. Times are ISO-8601 UTC text ("2026-11-21T12:00:00.000000Z"),
-- booleans 0/1, JSON as text: the portable subset a PostgreSQL backend can mirror.

-- Every message received, raw bytes kept, once per content key (IVORN, or topic + digest).
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    dedup_key   TEXT    NOT NULL UNIQUE,
    source      TEXT    NOT NULL,
    topic       TEXT,
    digest      TEXT    NOT NULL,
    raw         BLOB    NOT NULL,
    received_at TEXT    NOT NULL,
    seen_count  INTEGER NOT NULL DEFAULT 1,
    status      TEXT    NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'parsed', 'unparsed', 'processed')),
    reason      TEXT
) STRICT;
CREATE INDEX inbox_status ON inbox (status, id);

-- Transport identities (Kafka coordinates, file names): an exact redelivery is recognised
-- before its content is even looked at.
CREATE TABLE inbox_identity (
    identity    TEXT    PRIMARY KEY,
    inbox_id    INTEGER NOT NULL REFERENCES inbox (id)
) STRICT;

-- Alerts grouped per astrophysical event (mission + event key).
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    group_key     TEXT    NOT NULL UNIQUE,
    mission       TEXT    NOT NULL,
    event_key     TEXT    NOT NULL,
    first_seen    TEXT    NOT NULL,
    last_seen     TEXT    NOT NULL,
    alert_count   INTEGER NOT NULL DEFAULT 0,
    best_alert_id INTEGER,
    retracted     INTEGER NOT NULL DEFAULT 0,
    is_test       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    inbox_id     INTEGER NOT NULL UNIQUE REFERENCES inbox (id),
    event_id     INTEGER NOT NULL REFERENCES events (id),
    mission      TEXT    NOT NULL,
    notice_type  TEXT    NOT NULL,
    event_key    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    is_test      INTEGER NOT NULL,
    revision     INTEGER,
    trigger_time TEXT,
    ra           REAL,
    dec          REAL,
    error_deg    REAL,
    normalized   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
) STRICT;
CREATE INDEX alerts_event ON alerts (event_id, id);

-- Each rule's verdict on each alert, with the clause that decided it.
CREATE TABLE decisions (
    id         INTEGER PRIMARY KEY,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id),
    rule       TEXT    NOT NULL,
    rule_hash  TEXT    NOT NULL,
    matched    INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    error      TEXT,
    created_at TEXT    NOT NULL,
    UNIQUE (alert_id, rule)
) STRICT;

-- The outbox. `key` is the deterministic idempotency key: the UNIQUE constraint is the
-- duplicate guard. A row is committed durably as 'submitting' before its POST is sent.
CREATE TABLE submissions (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    api         TEXT    NOT NULL CHECK (api IN ('swift_too', 'ukssdc_xrt')),
    rule        TEXT    NOT NULL,
    event_id    INTEGER NOT NULL REFERENCES events (id),
    action      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    parent_id   INTEGER REFERENCES submissions (id),
    state       TEXT    NOT NULL CHECK (state IN ('planned', 'submitting', 'submitted',
                'tracking', 'done', 'rejected', 'failed', 'cancelled', 'unknown', 'needs_human')),
    request     TEXT    NOT NULL,
    remote_id   TEXT,
    sent_at     TEXT,
    not_before  TEXT,
    next_at     TEXT,
    reason      TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
) STRICT;
CREATE INDEX submissions_state ON submissions (state, next_at);
CREATE INDEX submissions_event ON submissions (event_id);

-- Attempt history: every state change of a submission, with what caused it.
CREATE TABLE submission_log (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions (id),
    from_state    TEXT,
    to_state      TEXT    NOT NULL,
    at            TEXT    NOT NULL,
    detail        TEXT
) STRICT;
CREATE INDEX submission_log_sub ON submission_log (submission_id, id);

-- What the remote side says about a submitted request (TOO decision, XRT product codes).
CREATE TABLE remote_jobs (
    id             INTEGER PRIMARY KEY,
    submission_id  INTEGER NOT NULL UNIQUE REFERENCES submissions (id),
    api            TEXT    NOT NULL,
    remote_id      TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    detail         TEXT,
    url            TEXT,
    polls          INTEGER NOT NULL DEFAULT 0,
    poll_failures  INTEGER NOT NULL DEFAULT 0,
    last_polled_at TEXT,
    updated_at     TEXT    NOT NULL
) STRICT;

-- Swift observations of our TOOs (target ID and obsids as the as-flown calendar reports).
CREATE TABLE observations (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions (id),
    target_id     TEXT    NOT NULL,
    obsid         TEXT    NOT NULL,
    start_time    TEXT,
    end_time      TEXT,
    exposure_s    REAL,
    UNIQUE (submission_id, obsid)
) STRICT;

-- Retrieved products: positions, light curves, spectral fits, source lists, archives.
CREATE TABLE results (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions (id),
    kind          TEXT    NOT NULL,
    data          TEXT    NOT NULL,
    path          TEXT,
    created_at    TEXT    NOT NULL,
    UNIQUE (submission_id, kind)
) STRICT;

-- Status messages to publish (MQTT, webhook): written in the same transaction as the state
-- change they describe, deleted once delivered, so a crash neither loses nor invents one.
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY,
    channel      TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    retain       INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT    NOT NULL,
    last_error   TEXT
) STRICT;
CREATE INDEX notices_next ON notices (next_at, id);

-- Small facts: heartbeat, daemon start, config digest.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
