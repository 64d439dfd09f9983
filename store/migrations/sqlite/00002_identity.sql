-- +goose Up
-- Identity resolution keeps every customer record it resolved, as mapped,
-- so that a profile can be re-derived from its records and a split
-- recomputed without reading the raw landing table. Which profile a record
-- belongs to is the identities table.
CREATE TABLE identity_records (
    rid         INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    tenant      TEXT NOT NULL DEFAULT '',
    version     TEXT NOT NULL DEFAULT '',
    doc         TEXT NOT NULL,
    -- feat: the record's match features, precomputed, so that comparing a
    -- candidate costs no normalization.
    feat        TEXT NOT NULL DEFAULT '',
    constrained INTEGER NOT NULL DEFAULT 0,
    updated_at  TIMESTAMP NOT NULL,
    UNIQUE (source, external_id)
);

-- Match and blocking keys of each record, as 64-bit hashes: records that
-- share a key are compared. Small fixed-size rows keep the index compact
-- and its inserts cheap.
CREATE TABLE identity_keys (
    key INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (key, rid)
) WITHOUT ROWID;

-- Unmerge constraints: records on different sides of one split never share
-- a profile.
CREATE TABLE identity_splits (
    split_id    TEXT NOT NULL,
    side        INTEGER NOT NULL,
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (split_id, source, external_id)
) WITHOUT ROWID;
CREATE INDEX identity_splits_record ON identity_splits (source, external_id);

-- Forced merges: the two records share a profile.
CREATE TABLE identity_links (
    a_source      TEXT NOT NULL,
    a_external_id TEXT NOT NULL,
    b_source      TEXT NOT NULL,
    b_external_id TEXT NOT NULL,
    actor         TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (a_source, a_external_id, b_source, b_external_id)
) WITHOUT ROWID;
CREATE INDEX identity_links_b ON identity_links (b_source, b_external_id);

-- The records each side of a merge held, so the merge can be undone.
ALTER TABLE merges ADD COLUMN sides TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE merges DROP COLUMN sides;
DROP TABLE identity_links;
DROP TABLE identity_splits;
DROP TABLE identity_keys;
DROP TABLE identity_records;
