-- The game's event log. Append-only: rows are inserted, never updated or deleted.
-- `seq` is global and strictly increasing; AUTOINCREMENT never hands out a number twice.
-- Times are unix milliseconds; `actor` and `payload` are JSON text.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    game    TEXT    NOT NULL,
    at_ms   INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    payload TEXT    NOT NULL
);

CREATE INDEX events_by_game ON events (game, seq);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: record a new event instead');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: record a new event instead');
END;
