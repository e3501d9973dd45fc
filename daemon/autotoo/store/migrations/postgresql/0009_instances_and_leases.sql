-- autotoo state, schema 9: several instances on one database (issue 22, docs/postgresql.md).
--
-- instances: every running daemon registers and writes its heartbeat here (for people and
-- `autotoo status`; correctness never depends on it).
-- submissions.lease_*: the submitter claims a due row before handling it; the move to
-- 'submitting' requires the claim to be live and its token unchanged (fencing).
CREATE TABLE instances (
    id           TEXT    PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          BIGINT  NOT NULL,
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL,
    stopped_at   TEXT
);
ALTER TABLE submissions ADD COLUMN lease_owner TEXT;
ALTER TABLE submissions ADD COLUMN lease_until TEXT;
ALTER TABLE submissions ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
