-- Where the server that writes a game's log (its leader) takes requests: the replicas that
-- follow the log forward writes there. One row per game, replaced by each new leader right
-- after it took the store's writer lock. `relay_key` is a random secret that followers
-- present with what they forward (whoever reads this table may read the log anyway).
CREATE TABLE leaders (
    game      TEXT    PRIMARY KEY,
    url       TEXT    NOT NULL,
    relay_key TEXT    NOT NULL,
    holder    TEXT    NOT NULL,
    since_ms  INTEGER NOT NULL
);
