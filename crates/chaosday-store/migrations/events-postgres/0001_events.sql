-- The game's event log. Append-only: rows are inserted, never updated or deleted.
-- `seq` is global and strictly increasing (an identity column; a rolled-back insert leaves
-- a gap). Times are unix milliseconds; `actor` and `payload` are JSON text, kept as TEXT so
-- that both backends give back exactly the text they were given.
CREATE TABLE events (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    game    TEXT   NOT NULL,
    at_ms   BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    kind    TEXT   NOT NULL,
    payload TEXT   NOT NULL
);

CREATE INDEX events_by_game ON events (game, seq);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: record a new event instead';
END;
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
