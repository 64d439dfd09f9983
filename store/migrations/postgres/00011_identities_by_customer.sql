-- +goose Up
-- A profile's identities are read by profile id in (source, external_id)
-- order: by the API for one profile, by an export for a range of them.
-- The index gives that order and, with the source type included, can
-- answer such a read on its own.
DROP INDEX identities_customer;
CREATE INDEX identities_customer ON identities (customer_id, source, external_id) INCLUDE (source_type);

-- +goose Down
DROP INDEX identities_customer;
CREATE INDEX identities_customer ON identities (customer_id);
