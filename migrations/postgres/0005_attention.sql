-- The attention queue, kept: one row per item (customer, reason, cause) with its state, its
-- claim (who, until when, and a version that every new claim raises, so that an agent acting
-- on an older claim is refused), and its last transition; every transition is copied into
-- attention_history by trigger, in the same transaction, so the queue's history can be
-- replayed. Instants are Unix microseconds, written by c360 (never the database's clock).

CREATE TABLE attention_items (
    customer_id     BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    cause           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'cleared', 'resolved')),
    due_us          BIGINT NOT NULL,
    evidence        TEXT NOT NULL,
    action          TEXT NOT NULL,
    claimed_by      TEXT,
    lease_until_us  BIGINT,
    version         BIGINT NOT NULL DEFAULT 0,
    outcome         TEXT,
    transition      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    changed_us      BIGINT NOT NULL,
    PRIMARY KEY (customer_id, reason, cause)
);
CREATE INDEX attention_items_open_idx ON attention_items (due_us) WHERE state = 'open';
CREATE INDEX attention_items_leases_idx ON attention_items (lease_until_us)
    WHERE claimed_by IS NOT NULL;

CREATE TABLE attention_history (
    id          BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    cause       TEXT NOT NULL,
    transition  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at_us       BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    outcome     TEXT
);
CREATE INDEX attention_history_item_idx ON attention_history (customer_id, reason, cause, id);

CREATE FUNCTION attention_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.changed_us IS DISTINCT FROM OLD.changed_us
        OR NEW.transition IS DISTINCT FROM OLD.transition THEN
        INSERT INTO attention_history (customer_id, reason, cause, transition, actor, at_us, version, outcome)
        VALUES (NEW.customer_id, NEW.reason, NEW.cause, NEW.transition, NEW.actor, NEW.changed_us, NEW.version, NEW.outcome);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER attention_items_record AFTER INSERT OR UPDATE ON attention_items
    FOR EACH ROW EXECUTE FUNCTION attention_record();
