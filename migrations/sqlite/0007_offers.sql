-- Offers made to customers (issue 29): one row per offer with where it stands now, and an
-- append-only ledger of every transition, which the systems that carry offers out read by
-- position. The offer's id is their idempotency key; nothing is ever deleted, so a key is
-- never reused.

CREATE TABLE offers (
    offer_id     TEXT PRIMARY KEY,
    customer_id  INTEGER NOT NULL,
    problem      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    currency     TEXT NOT NULL DEFAULT '',
    amount_minor INTEGER NOT NULL DEFAULT 0,
    percent      INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL,
    agent        TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    client_key   TEXT,
    recorded_us  INTEGER NOT NULL,
    settled_by   TEXT,
    settled_us   INTEGER,
    position     INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX offers_once_idx ON offers (customer_id, problem, kind)
    WHERE kind <> 'refund' AND state <> 'rejected';
CREATE UNIQUE INDEX offers_client_key_idx ON offers (agent, client_key)
    WHERE client_key IS NOT NULL;
CREATE INDEX offers_customer_idx ON offers (customer_id, recorded_us);
CREATE INDEX offers_agent_idx ON offers (agent, recorded_us);

CREATE TABLE offer_ledger (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    offer_id   TEXT NOT NULL REFERENCES offers (offer_id),
    state      TEXT NOT NULL,
    actor      TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at_us      INTEGER NOT NULL
);

CREATE TRIGGER offer_ledger_no_update BEFORE UPDATE ON offer_ledger
BEGIN
    SELECT RAISE(ABORT, 'the offer ledger is append-only');
END;

CREATE TRIGGER offer_ledger_no_delete BEFORE DELETE ON offer_ledger
BEGIN
    SELECT RAISE(ABORT, 'the offer ledger is append-only');
END;
