-- CRM's conversations' text: see migrations/postgres/0010_interaction_messages.sql.
CREATE TABLE interaction_messages (
    id             INTEGER PRIMARY KEY,
    interaction_id INTEGER NOT NULL REFERENCES interactions (id),
    customer_id    INTEGER NOT NULL REFERENCES customers (id),
    position       INTEGER NOT NULL CHECK (position >= 1),
    kind           TEXT NOT NULL CHECK (kind IN ('message', 'transcript', 'note')),
    author         TEXT NOT NULL CHECK (author IN ('customer', 'agent')),
    sent_at        TEXT NOT NULL,
    body           TEXT NOT NULL,
    UNIQUE (interaction_id, position)
);
CREATE INDEX interaction_messages_customer_idx ON interaction_messages (customer_id, sent_at DESC);
