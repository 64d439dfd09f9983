-- +goose Up
-- Why an operator forced a merge, in their words: the merge log keeps it
-- next to who forced it. Merges the rules made have none.
ALTER TABLE merges ADD COLUMN reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE merges DROP COLUMN reason;
