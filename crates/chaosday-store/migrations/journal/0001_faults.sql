-- The revert journal of one host. Timestamps are unix milliseconds.
CREATE TABLE faults (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target_key  TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    fault       TEXT    NOT NULL,
    revert      TEXT    NOT NULL,
    description TEXT    NOT NULL,
    origin      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    owner_pid   INTEGER NOT NULL,
    owner_start INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER,
    ended_ms    INTEGER,
    end_reason  TEXT,
    error       TEXT
);

CREATE INDEX faults_live ON faults (state) WHERE state IN ('injecting', 'active', 'reverting');

CREATE TABLE flags (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL,
    updated_by TEXT    NOT NULL
);
