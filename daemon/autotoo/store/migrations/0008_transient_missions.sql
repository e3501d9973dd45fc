-- autotoo state, schema 8: the missions each transient has events of, beside its trigger span.
-- Association looks, at every round, for the stored transients a new event could join: those
-- whose span reaches into the round's window and that have an event of a partner mission.
-- Over `transients` alone that tested every transient of the window for a partner event (a
-- stream of one mission's alerts tested all of its own, ~25% of the processor's time in the
-- throughput bench); this table's index finds them by (mission, last_trigger) ranges.
-- Written with the association, in the same transaction (store/writes.py `_associate`).
CREATE TABLE transient_missions (
    transient_id  INTEGER NOT NULL REFERENCES transients (id),
    mission       TEXT    NOT NULL,
    trigger_time  TEXT,                    -- copies of the transient's two times
    last_trigger  TEXT,
    PRIMARY KEY (transient_id, mission)
) STRICT, WITHOUT ROWID;
CREATE INDEX transient_missions_span ON transient_missions (mission, last_trigger, trigger_time);
INSERT INTO transient_missions (transient_id, mission, trigger_time, last_trigger)
SELECT DISTINCT t.id, e.mission, t.trigger_time, t.last_trigger
FROM associations a
JOIN events e ON e.id = a.event_id
JOIN transients t ON t.id = a.transient_id;
