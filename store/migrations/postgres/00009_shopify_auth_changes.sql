-- +goose Up
-- Access tokens of shops that installed a public app through Shopify's
-- OAuth flow, one row per shop. sealed is the token set (access token,
-- refresh token, expiries) encrypted with AES-GCM under a key derived from
-- the app's client secret, which is not in the store: a copy of the
-- database alone does not give access to the shops. expires_at is when the
-- access token expires (NULL: it does not), kept in clear for status.
CREATE TABLE shop_tokens (
    shop         TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    scope        TEXT NOT NULL DEFAULT '',
    sealed       BYTEA NOT NULL,
    expires_at   TIMESTAMPTZ,
    installed_at TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- The state of each OAuth install under way, by the SHA-256 of its random
-- value, with the shop it was issued for: taken (deleted) by the callback,
-- so a state works once, and refused after expires_at.
CREATE TABLE oauth_states (
    hash       TEXT PRIMARY KEY,
    shop       TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- How many changes (a new version of a record: source, entity, external id
-- and version not landed before) each source's records brought, by the
-- channel that landed the change first: webhook, pull, or backfill (a pull,
-- of a version older than the source's first counted change). first_at of
-- a source's earliest row is when counting started for it.
CREATE TABLE change_counts (
    source   TEXT NOT NULL,
    channel  TEXT NOT NULL,
    changes  BIGINT NOT NULL DEFAULT 0,
    first_at TIMESTAMPTZ NOT NULL,
    last_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, channel)
);

-- +goose Down
DROP TABLE change_counts;
DROP TABLE oauth_states;
DROP TABLE shop_tokens;
