-- +goose Up
-- An order names its customer as its source knows it; the profile it
-- belongs to is read through that record's identity, so that the link
-- follows merges, unmerges and customers that arrive after their orders.
ALTER TABLE orders ADD COLUMN customer_external_id TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_customer_identity ON orders (source, customer_external_id);

-- A deleted order stays as a tombstone without its data: a late delivery
-- of an older version must not bring it back.
ALTER TABLE orders ADD COLUMN deleted_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE orders DROP COLUMN deleted_at;
DROP INDEX orders_customer_identity;
ALTER TABLE orders DROP COLUMN customer_external_id;
