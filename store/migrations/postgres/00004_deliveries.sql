-- +goose Up
-- Deliveries pushed to crmhub (webhooks) that were accepted, by the keys
-- their sender identifies them with (a delivery id, an event id per
-- topic). A delivery whose key is here was landed before: its redelivery
-- changes nothing.
CREATE TABLE deliveries (
    source      TEXT NOT NULL,
    key         TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE INDEX deliveries_received_at ON deliveries (received_at);

-- +goose Down
DROP TABLE deliveries;
