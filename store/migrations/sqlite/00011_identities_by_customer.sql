-- +goose Up
-- A profile's identities are read by profile id in (source, external_id)
-- order: by the API for one profile, by an export for a range of them.
-- With the source type in the index, such a read never looks an identity
-- up in the table, and its order is the index's (the primary key columns
-- end every index entry of a WITHOUT ROWID table).
DROP INDEX identities_customer;
CREATE INDEX identities_customer ON identities (customer_id, source, external_id, source_type);

-- +goose Down
DROP INDEX identities_customer;
CREATE INDEX identities_customer ON identities (customer_id);
