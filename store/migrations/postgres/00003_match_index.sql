-- +goose Up
-- PostgreSQL keeps match keys in identity_keys, shared by every process;
-- the generation number exists so that both stores answer the same
-- questions (see the SQLite migration of the same number).
CREATE TABLE identity_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store      TEXT NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO identity_state (id, store, generation) VALUES (1, md5(random()::text || clock_timestamp()::text), 0);

-- +goose Down
DROP TABLE identity_state;
