-- The attention queue, kept: see migrations/postgres/0005_attention.sql.

CREATE TABLE attention_items (
    customer_id     INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    cause           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'cleared', 'resolved')),
    due_us          INTEGER NOT NULL,
    evidence        TEXT NOT NULL,
    action          TEXT NOT NULL,
    claimed_by      TEXT,
    lease_until_us  INTEGER,
    version         INTEGER NOT NULL DEFAULT 0,
    outcome         TEXT,
    transition      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    changed_us      INTEGER NOT NULL,
    PRIMARY KEY (customer_id, reason, cause)
);
CREATE INDEX attention_items_open_idx ON attention_items (due_us) WHERE state = 'open';
CREATE INDEX attention_items_leases_idx ON attention_items (lease_until_us)
    WHERE claimed_by IS NOT NULL;

CREATE TABLE attention_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    cause       TEXT NOT NULL,
    transition  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at_us       INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    outcome     TEXT
);
CREATE INDEX attention_history_item_idx ON attention_history (customer_id, reason, cause, id);

CREATE TRIGGER attention_items_created AFTER INSERT ON attention_items
BEGIN
    INSERT INTO attention_history (customer_id, reason, cause, transition, actor, at_us, version, outcome)
    VALUES (NEW.customer_id, NEW.reason, NEW.cause, NEW.transition, NEW.actor, NEW.changed_us, NEW.version, NEW.outcome);
END;

CREATE TRIGGER attention_items_changed AFTER UPDATE ON attention_items
WHEN NEW.changed_us IS NOT OLD.changed_us OR NEW.transition IS NOT OLD.transition
BEGIN
    INSERT INTO attention_history (customer_id, reason, cause, transition, actor, at_us, version, outcome)
    VALUES (NEW.customer_id, NEW.reason, NEW.cause, NEW.transition, NEW.actor, NEW.changed_us, NEW.version, NEW.outcome);
END;
