-- +goose Up
-- What each destination last pushed to each record of a source system (a
-- Shopify customer): the destination compares a profile with it and sends
-- only what changed, so a profile that changed in nothing the destination
-- writes sends no request at all, the echo of crmhub's own write included.
-- pushed is the destination's own JSON; version is the system's version of
-- the record after the push (Shopify's updatedAt). customer_id is the
-- profile pushed, so that erasing the profile erases its rows.
CREATE TABLE push_state (
    destination TEXT NOT NULL,
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    pushed      TEXT NOT NULL DEFAULT '{}',
    version     TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (destination, source, external_id)
) WITHOUT ROWID;
CREATE INDEX push_state_customer ON push_state (customer_id);

-- +goose Down
DROP TABLE push_state;
