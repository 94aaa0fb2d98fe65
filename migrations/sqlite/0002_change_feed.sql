-- The change feed: every insert, update and delete in the backends' tables, the catalog's
-- included, recorded by trigger in the same transaction as a row with a monotonically
-- increasing sequence number, the source and the customer (or catalog item). Replicas poll
-- the table. A writer that must not be followed (c360 seed) inserts a row into
-- change_feed_pause inside its own transaction and deletes it before committing: the triggers
-- of that transaction see it, no other connection does.

CREATE TABLE change_feed (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL CHECK (source IN ('billing', 'orders', 'fulfilment', 'crm', 'catalog')),
    customer_id INTEGER,
    item        TEXT,
    -- Unix seconds, for pruning.
    changed_at  INTEGER NOT NULL DEFAULT (unixepoch())
);
-- Pruning: rows older than the retention.
CREATE INDEX change_feed_changed_at_idx ON change_feed (changed_at);

CREATE TABLE change_feed_pause (paused INTEGER NOT NULL);


CREATE TRIGGER customers_feed_insert AFTER INSERT ON customers
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('crm', NEW.id);
END;

CREATE TRIGGER customers_feed_update AFTER UPDATE ON customers
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('crm', NEW.id);
    INSERT INTO change_feed (source, customer_id) SELECT 'crm', OLD.id WHERE OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER customers_feed_delete AFTER DELETE ON customers
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('crm', OLD.id);
END;

CREATE TRIGGER interactions_feed_insert AFTER INSERT ON interactions
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('crm', NEW.customer_id);
END;

CREATE TRIGGER interactions_feed_update AFTER UPDATE ON interactions
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('crm', NEW.customer_id);
    INSERT INTO change_feed (source, customer_id) SELECT 'crm', OLD.customer_id WHERE OLD.customer_id IS NOT NEW.customer_id;
END;

CREATE TRIGGER interactions_feed_delete AFTER DELETE ON interactions
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('crm', OLD.customer_id);
END;

CREATE TRIGGER billing_accounts_feed_insert AFTER INSERT ON billing_accounts
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', NEW.customer_id);
END;

CREATE TRIGGER billing_accounts_feed_update AFTER UPDATE ON billing_accounts
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', NEW.customer_id);
    INSERT INTO change_feed (source, customer_id) SELECT 'billing', OLD.customer_id WHERE OLD.customer_id IS NOT NEW.customer_id;
END;

CREATE TRIGGER billing_accounts_feed_delete AFTER DELETE ON billing_accounts
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', OLD.customer_id);
END;

CREATE TRIGGER payment_methods_feed_insert AFTER INSERT ON payment_methods
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', NEW.customer_id);
END;

CREATE TRIGGER payment_methods_feed_update AFTER UPDATE ON payment_methods
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', NEW.customer_id);
    INSERT INTO change_feed (source, customer_id) SELECT 'billing', OLD.customer_id WHERE OLD.customer_id IS NOT NEW.customer_id;
END;

CREATE TRIGGER payment_methods_feed_delete AFTER DELETE ON payment_methods
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', OLD.customer_id);
END;

CREATE TRIGGER invoices_feed_insert AFTER INSERT ON invoices
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', NEW.customer_id);
END;

CREATE TRIGGER invoices_feed_update AFTER UPDATE ON invoices
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', NEW.customer_id);
    INSERT INTO change_feed (source, customer_id) SELECT 'billing', OLD.customer_id WHERE OLD.customer_id IS NOT NEW.customer_id;
END;

CREATE TRIGGER invoices_feed_delete AFTER DELETE ON invoices
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('billing', OLD.customer_id);
END;

CREATE TRIGGER orders_feed_insert AFTER INSERT ON orders
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('orders', NEW.customer_id);
END;

CREATE TRIGGER orders_feed_update AFTER UPDATE ON orders
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('orders', NEW.customer_id);
    INSERT INTO change_feed (source, customer_id) SELECT 'orders', OLD.customer_id WHERE OLD.customer_id IS NOT NEW.customer_id;
END;

CREATE TRIGGER orders_feed_delete AFTER DELETE ON orders
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('orders', OLD.customer_id);
END;

CREATE TRIGGER order_lines_feed_insert AFTER INSERT ON order_lines
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) SELECT 'orders', customer_id FROM orders WHERE id = NEW.order_id;
END;

CREATE TRIGGER order_lines_feed_update AFTER UPDATE ON order_lines
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) SELECT 'orders', customer_id FROM orders WHERE id = NEW.order_id;
END;

CREATE TRIGGER order_lines_feed_delete AFTER DELETE ON order_lines
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) SELECT 'orders', customer_id FROM orders WHERE id = OLD.order_id;
END;

CREATE TRIGGER shipments_feed_insert AFTER INSERT ON shipments
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('fulfilment', NEW.customer_id);
END;

CREATE TRIGGER shipments_feed_update AFTER UPDATE ON shipments
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('fulfilment', NEW.customer_id);
    INSERT INTO change_feed (source, customer_id) SELECT 'fulfilment', OLD.customer_id WHERE OLD.customer_id IS NOT NEW.customer_id;
END;

CREATE TRIGGER shipments_feed_delete AFTER DELETE ON shipments
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, customer_id) VALUES ('fulfilment', OLD.customer_id);
END;

CREATE TRIGGER products_feed_insert AFTER INSERT ON products
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, item) VALUES ('catalog', NEW.sku);
END;

CREATE TRIGGER products_feed_update AFTER UPDATE ON products
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, item) VALUES ('catalog', NEW.sku);
    INSERT INTO change_feed (source, item) SELECT 'catalog', OLD.sku WHERE OLD.sku IS NOT NEW.sku;
END;

CREATE TRIGGER products_feed_delete AFTER DELETE ON products
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, item) VALUES ('catalog', OLD.sku);
END;

CREATE TRIGGER return_policies_feed_insert AFTER INSERT ON return_policies
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, item) VALUES ('catalog', NEW.category);
END;

CREATE TRIGGER return_policies_feed_update AFTER UPDATE ON return_policies
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, item) VALUES ('catalog', NEW.category);
    INSERT INTO change_feed (source, item) SELECT 'catalog', OLD.category WHERE OLD.category IS NOT NEW.category;
END;

CREATE TRIGGER return_policies_feed_delete AFTER DELETE ON return_policies
WHEN NOT EXISTS (SELECT 1 FROM change_feed_pause)
BEGIN
    INSERT INTO change_feed (source, item) VALUES ('catalog', OLD.category);
END;
