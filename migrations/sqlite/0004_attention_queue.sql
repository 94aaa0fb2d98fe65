-- The attention queue as agents list it: see migrations/postgres/0006_attention_queue.sql.

ALTER TABLE attention_items ADD COLUMN tier TEXT NOT NULL DEFAULT '';
DROP INDEX attention_items_open_idx;
CREATE INDEX attention_items_queue_idx ON attention_items (due_us, customer_id, reason, cause)
    WHERE state = 'open';
