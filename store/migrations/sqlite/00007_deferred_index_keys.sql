-- +goose Up
-- The email and phone rows of a profile refer to it with deferred foreign
-- keys, checked at commit. With an immediate key, a multi-row insert could
-- fail half-way, so SQLite copied every index page it touched to a
-- statement journal first: on the email index, where new rows land at
-- random places, that copy was half the cost of the insert. Inserts into
-- these tables use INSERT OR IGNORE, which cannot fail half-way either.
CREATE TABLE customer_emails_new (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    email       TEXT NOT NULL,
    PRIMARY KEY (customer_id, email)
) WITHOUT ROWID;
INSERT INTO customer_emails_new (customer_id, email) SELECT customer_id, email FROM customer_emails;
DROP TABLE customer_emails;
ALTER TABLE customer_emails_new RENAME TO customer_emails;
CREATE INDEX customer_emails_email ON customer_emails (email);

CREATE TABLE customer_phones_new (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    phone       TEXT NOT NULL,
    PRIMARY KEY (customer_id, phone)
) WITHOUT ROWID;
INSERT INTO customer_phones_new (customer_id, phone) SELECT customer_id, phone FROM customer_phones;
DROP TABLE customer_phones;
ALTER TABLE customer_phones_new RENAME TO customer_phones;
CREATE INDEX customer_phones_phone ON customer_phones (phone);

-- +goose Down
CREATE TABLE customer_emails_old (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    PRIMARY KEY (customer_id, email)
) WITHOUT ROWID;
INSERT INTO customer_emails_old (customer_id, email) SELECT customer_id, email FROM customer_emails;
DROP TABLE customer_emails;
ALTER TABLE customer_emails_old RENAME TO customer_emails;
CREATE INDEX customer_emails_email ON customer_emails (email);

CREATE TABLE customer_phones_old (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    PRIMARY KEY (customer_id, phone)
) WITHOUT ROWID;
INSERT INTO customer_phones_old (customer_id, phone) SELECT customer_id, phone FROM customer_phones;
DROP TABLE customer_phones;
ALTER TABLE customer_phones_old RENAME TO customer_phones;
CREATE INDEX customer_phones_phone ON customer_phones (phone);
