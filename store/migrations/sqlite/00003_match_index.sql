-- +goose Up
-- On SQLite the match keys of identity resolution live in memory, derived
-- from identity_records.feat when a process first needs them: one process
-- owns an embedded store, and a key index on disk cost a dozen random
-- B-tree writes per record. The generation number tells a process that
-- another one (a CLI command next to the server) changed the keys, so it
-- derives them again.
CREATE TABLE identity_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store      TEXT NOT NULL,
    generation INTEGER NOT NULL
);
INSERT INTO identity_state (id, store, generation) VALUES (1, lower(hex(randomblob(16))), 0);
DROP TABLE identity_keys;

-- +goose Down
CREATE TABLE identity_keys (
    key INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (key, rid)
) WITHOUT ROWID;
DROP TABLE identity_state;
