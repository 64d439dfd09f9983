-- +goose Up
-- Unified profiles. doc holds the whole profile as JSON (without its
-- identities, which live in the identities table); the columns beside it are
-- what queries filter and sort on.
CREATE TABLE customers (
    id            TEXT PRIMARY KEY,
    primary_email TEXT NOT NULL DEFAULT '',
    primary_phone TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    birthday      TEXT NOT NULL DEFAULT '',
    merged_into   TEXT REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED,
    doc           TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX customers_updated_at ON customers (updated_at, id);

-- Normalized emails and phones of each profile: the match keys of identity
-- resolution and the lookup keys of the API.
CREATE TABLE customer_emails (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    PRIMARY KEY (customer_id, email)
) WITHOUT ROWID;
CREATE INDEX customer_emails_email ON customer_emails (email);

CREATE TABLE customer_phones (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    PRIMARY KEY (customer_id, phone)
) WITHOUT ROWID;
CREATE INDEX customer_phones_phone ON customer_phones (phone);

-- Which record in which source belongs to which profile.
CREATE TABLE identities (
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    source_type TEXT NOT NULL DEFAULT '',
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (source, external_id)
) WITHOUT ROWID;
CREATE INDEX identities_customer ON identities (customer_id);

-- Money is TEXT: SQLite's NUMERIC affinity would turn "190.10" into a float.
CREATE TABLE orders (
    id                 TEXT PRIMARY KEY,
    source             TEXT NOT NULL,
    external_id        TEXT NOT NULL,
    customer_id        TEXT REFERENCES customers (id) ON DELETE SET NULL,
    number             TEXT NOT NULL DEFAULT '',
    financial_status   TEXT NOT NULL DEFAULT '',
    fulfillment_status TEXT NOT NULL DEFAULT '',
    currency           TEXT NOT NULL,
    subtotal           TEXT NOT NULL,
    discounts          TEXT NOT NULL,
    tax                TEXT NOT NULL,
    shipping           TEXT NOT NULL,
    total              TEXT NOT NULL,
    refunded           TEXT NOT NULL,
    cancelled_at       TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    processed_at       TIMESTAMP,
    updated_at         TIMESTAMP NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX orders_customer ON orders (customer_id, created_at);
CREATE INDEX orders_updated_at ON orders (updated_at, id);

CREATE TABLE line_items (
    order_id   TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    sku        TEXT NOT NULL DEFAULT '',
    title      TEXT NOT NULL DEFAULT '',
    quantity   INTEGER NOT NULL,
    unit_price TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
) WITHOUT ROWID;

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    customer_id TEXT REFERENCES customers (id) ON DELETE SET NULL,
    type        TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    attributes  TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, external_id)
);
CREATE INDEX events_customer ON events (customer_id, occurred_at);

-- The landing table keeps every raw record as received, so profiles can be
-- rebuilt after a mapping change. The same bytes for the same record land
-- once.
CREATE TABLE raw_records (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,
    entity       TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    version      TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    meta         TEXT NOT NULL DEFAULT '{}',
    payload      BLOB NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    UNIQUE (source, entity, external_id, content_hash)
);

CREATE TABLE checkpoints (
    source     TEXT NOT NULL,
    stream     TEXT NOT NULL,
    cursor     TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, stream)
) WITHOUT ROWID;

-- One row per failing message and handler; attempts counts every failure.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    handler     TEXT NOT NULL,
    topic       TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    entity      TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    payload     BLOB NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{}',
    reason      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    first_seen  TIMESTAMP NOT NULL,
    last_seen   TIMESTAMP NOT NULL
);

CREATE TABLE merges (
    id          TEXT PRIMARY KEY,
    survivor_id TEXT NOT NULL,
    rule        TEXT NOT NULL,
    score       REAL NOT NULL DEFAULT 0,
    evidence    TEXT NOT NULL DEFAULT '[]',
    actor       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    undone_at   TIMESTAMP,
    undone_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX merges_survivor ON merges (survivor_id);

CREATE TABLE merge_members (
    merge_id    TEXT NOT NULL REFERENCES merges (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (merge_id, customer_id)
) WITHOUT ROWID;
CREATE INDEX merge_members_customer ON merge_members (customer_id);

-- API tokens are stored as SHA-256 hashes; the token itself is shown once.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);

-- Idempotency marks: a stage records the message key it handled in the same
-- transaction as its effect.
CREATE TABLE processed (
    handler      TEXT NOT NULL,
    key          TEXT NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (handler, key)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE processed;
DROP TABLE api_tokens;
DROP TABLE merge_members;
DROP TABLE merges;
DROP TABLE dead_letters;
DROP TABLE checkpoints;
DROP TABLE raw_records;
DROP TABLE events;
DROP TABLE line_items;
DROP TABLE orders;
DROP TABLE identities;
DROP TABLE customer_phones;
DROP TABLE customer_emails;
DROP TABLE customers;
