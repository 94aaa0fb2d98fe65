-- The reference schema of c360's four backends and its catalog, for SQLite: the same tables,
-- columns and indexes as migrations/postgres. Timestamps are RFC 3339 text in UTC (as sqlx
-- writes them), so they sort and compare as text; booleans are 0 and 1. Every index serves
-- a query c360 makes; the query is named beside it.

-- CRM ---------------------------------------------------------------------------------------

CREATE TABLE customers (
    id                INTEGER PRIMARY KEY,
    first_name        TEXT NOT NULL,
    last_name         TEXT NOT NULL,
    email             TEXT NOT NULL CHECK (email = lower(email)),
    phone_e164        TEXT NOT NULL CHECK (phone_e164 GLOB '+[1-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*'),
    tier              TEXT NOT NULL CHECK (tier IN ('standard', 'silver', 'gold', 'platinum')),
    loyalty_points    INTEGER NOT NULL DEFAULT 0,
    preferred_channel TEXT NOT NULL CHECK (preferred_channel IN ('email', 'phone', 'sms', 'chat')),
    created_at        TEXT NOT NULL
);
-- LookupCustomers by email.
CREATE UNIQUE INDEX customers_email_idx ON customers (email);
-- LookupCustomers by phone (several customers may share a number).
CREATE INDEX customers_phone_idx ON customers (phone_e164);

CREATE TABLE interactions (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    channel     TEXT NOT NULL CHECK (channel IN ('ticket', 'chat', 'call', 'email')),
    subject     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    csat        INTEGER CHECK (csat BETWEEN 1 AND 5),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- CRM source: a customer's recent interactions.
CREATE INDEX interactions_customer_idx ON interactions (customer_id, created_at DESC);

-- Billing -----------------------------------------------------------------------------------

CREATE TABLE billing_accounts (
    customer_id        INTEGER PRIMARY KEY,
    currency           TEXT NOT NULL CHECK (length(currency) = 3),
    balance_minor      INTEGER NOT NULL,
    credit_limit_minor INTEGER NOT NULL CHECK (credit_limit_minor >= 0)
);

CREATE TABLE payment_methods (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES billing_accounts (customer_id),
    brand        TEXT NOT NULL,
    last4        TEXT NOT NULL CHECK (last4 GLOB '[0-9][0-9][0-9][0-9]'),
    expiry_month INTEGER NOT NULL CHECK (expiry_month BETWEEN 1 AND 12),
    expiry_year  INTEGER NOT NULL,
    is_default   INTEGER NOT NULL CHECK (is_default IN (0, 1))
);
-- Billing source: a customer's cards.
CREATE INDEX payment_methods_customer_idx ON payment_methods (customer_id);

CREATE TABLE invoices (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES billing_accounts (customer_id),
    order_id       INTEGER,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    amount_minor   INTEGER NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('open', 'paid', 'overdue', 'payment_failed', 'refunded')),
    failure_reason TEXT,
    issued_at      TEXT NOT NULL,
    due_at         TEXT NOT NULL,
    paid_at        TEXT,
    failed_at      TEXT
);
-- Billing source: a customer's recent invoices.
CREATE INDEX invoices_customer_idx ON invoices (customer_id, issued_at DESC);
-- Billing source: a customer's recent failed payments.
CREATE INDEX invoices_failed_idx ON invoices (customer_id, failed_at DESC)
    WHERE status = 'payment_failed';

-- Orders ------------------------------------------------------------------------------------

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    total_minor INTEGER NOT NULL,
    placed_at   TEXT NOT NULL
);
-- Orders source: a customer's recent orders and their totals. (LookupCustomers by order id
-- and CheckReturnEligibility use the primary key.)
CREATE INDEX orders_customer_idx ON orders (customer_id, placed_at DESC);

CREATE TABLE order_lines (
    order_id          INTEGER NOT NULL REFERENCES orders (id),
    line_number       INTEGER NOT NULL CHECK (line_number > 0),
    sku               TEXT NOT NULL,
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor  INTEGER NOT NULL,
    returned_quantity INTEGER NOT NULL DEFAULT 0
                      CHECK (returned_quantity BETWEEN 0 AND quantity),
    -- Orders source and CheckReturnEligibility: the lines of an order.
    PRIMARY KEY (order_id, line_number)
) WITHOUT ROWID;

-- Fulfilment --------------------------------------------------------------------------------

CREATE TABLE shipments (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL,
    customer_id     INTEGER NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN
                    ('label_created', 'in_transit', 'out_for_delivery', 'delivered', 'exception')),
    promised_at     TEXT NOT NULL,
    shipped_at      TEXT,
    delivered_at    TEXT,
    created_at      TEXT NOT NULL
);
-- Fulfilment source: a customer's recent shipments.
CREATE INDEX shipments_customer_idx ON shipments (customer_id, created_at DESC);
-- CheckReturnEligibility: the deliveries of an order.
CREATE INDEX shipments_order_idx ON shipments (order_id);

-- Catalog -----------------------------------------------------------------------------------
-- Read whole into memory at start and on refresh: no index beyond the keys.

CREATE TABLE return_policies (
    category     TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    window_days  INTEGER NOT NULL CHECK (window_days >= 0),
    returnable   INTEGER NOT NULL CHECK (returnable IN (0, 1))
);

CREATE TABLE products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL REFERENCES return_policies (category),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    returnable  INTEGER NOT NULL CHECK (returnable IN (0, 1))
);
