-- The attention queue as agents list it: each item carries its customer's tier (filtered on),
-- and the open items are indexed in the order they are listed and paged (earliest due first,
-- then by key), so that a page is read from where the last ended.

ALTER TABLE attention_items ADD COLUMN tier TEXT NOT NULL DEFAULT '';
DROP INDEX attention_items_open_idx;
CREATE INDEX attention_items_queue_idx ON attention_items (due_us, customer_id, reason, cause)
    WHERE state = 'open';
