-- +goose Up
-- Privacy requests (data requests and erasures) and what an erasure keeps.

-- The key suppression entries are hashed under: random per store, so that
-- an entry says nothing outside this store and cannot be matched against a
-- list of hashed addresses made elsewhere.
CREATE TABLE privacy_state (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL
);
INSERT INTO privacy_state (id, key) VALUES (1, lower(hex(randomblob(32))));

-- What an erasure keeps of a person: HMAC-SHA256 hashes, under
-- privacy_state.key, of their normalized emails and phones and of their
-- records in each source. A record that matches one is dropped on arrival
-- instead of creating the person again; dropped counts those records.
CREATE TABLE suppressions (
    hash            TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    dropped         INTEGER NOT NULL DEFAULT 0,
    last_dropped_at TIMESTAMP
) WITHOUT ROWID;

-- Privacy requests from a source (a Shopify privacy webhook) or an
-- operator, with their status. origin makes handling a request twice a
-- no-op. A row holds no personal data but the export of a data request,
-- which is what the request asks for; erasing the person erases it too.
CREATE TABLE privacy_requests (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL DEFAULT '{}',
    export      BLOB,
    error       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

-- Erasures that destinations still have to carry out in the systems the
-- person was pushed to (GDPR Art. 19): one task per destination and erased
-- profile. subject holds what a destination may match the person by (the
-- profile id it pushed under, the source identities, unsalted SHA-256 of
-- normalized emails and phones as ad platforms take them); it is cleared
-- when the task is done.
CREATE TABLE erasure_tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT NOT NULL REFERENCES privacy_requests (id),
    destination TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    subject     TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    UNIQUE (request_id, destination, customer_id)
);
CREATE INDEX erasure_tasks_queue ON erasure_tasks (destination, status, id);

-- +goose Down
DROP TABLE erasure_tasks;
DROP TABLE privacy_requests;
DROP TABLE suppressions;
DROP TABLE privacy_state;
