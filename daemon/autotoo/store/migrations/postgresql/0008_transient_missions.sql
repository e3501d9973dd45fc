-- Schema 8 on PostgreSQL: the missions each transient has events of, beside its trigger
-- span (SQLite's 0008_transient_missions.sql says why), filled from the associations.
CREATE TABLE transient_missions (
    transient_id  BIGINT  NOT NULL REFERENCES transients (id),
    mission       TEXT    NOT NULL,
    trigger_time  TEXT,
    last_trigger  TEXT,
    PRIMARY KEY (transient_id, mission)
);
CREATE INDEX transient_missions_span ON transient_missions (mission, last_trigger, trigger_time);
INSERT INTO transient_missions (transient_id, mission, trigger_time, last_trigger)
SELECT DISTINCT t.id, e.mission, t.trigger_time, t.last_trigger
FROM associations a
JOIN events e ON e.id = a.event_id
JOIN transients t ON t.id = a.transient_id;
