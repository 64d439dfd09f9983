-- +goose Up
-- SQLite only: its email and phone rows now refer to their profile with
-- deferred foreign keys, so that a multi-row insert needs no statement
-- journal. PostgreSQL keeps no such journal; its schema is unchanged. The
-- migration exists so that both stores count the same versions.
SELECT 1;

-- +goose Down
SELECT 1;
