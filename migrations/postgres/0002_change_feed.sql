-- The change feed: every insert, update and delete in the backends' tables, the catalog's
-- included, recorded by trigger in the same transaction as a row with a monotonically
-- increasing sequence number, the source and the customer (or catalog item). Replicas follow
-- the table (the durable truth), woken by NOTIFY c360_feed. A writer that must not be followed
-- (c360 seed) sets c360.feed_paused = 'on' for its transaction.

CREATE TABLE change_feed (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      TEXT NOT NULL CHECK (source IN ('billing', 'orders', 'fulfilment', 'crm', 'catalog')),
    customer_id BIGINT,
    item        TEXT,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
-- Pruning: rows older than the retention.
CREATE INDEX change_feed_changed_at_idx ON change_feed (changed_at);

-- TG_ARGV: the source; how the row names what changed ('customer', 'order' or 'item'); the
-- column that holds it.
CREATE FUNCTION c360_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind   TEXT := TG_ARGV[1];
    key_column TEXT := TG_ARGV[2];
    keys   TEXT[];
    k      TEXT;
BEGIN
    IF current_setting('c360.feed_paused', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        keys := ARRAY[to_jsonb(OLD) ->> key_column];
    ELSIF TG_OP = 'INSERT' THEN
        keys := ARRAY[to_jsonb(NEW) ->> key_column];
    ELSE
        -- A row that moves (an order to another customer) changes both.
        keys := ARRAY[to_jsonb(NEW) ->> key_column];
        IF (to_jsonb(OLD) ->> key_column) IS DISTINCT FROM (to_jsonb(NEW) ->> key_column) THEN
            keys := keys || (to_jsonb(OLD) ->> key_column);
        END IF;
    END IF;
    FOREACH k IN ARRAY keys LOOP
        IF kind = 'customer' THEN
            INSERT INTO change_feed (source, customer_id) VALUES (TG_ARGV[0], k::BIGINT);
        ELSIF kind = 'order' THEN
            INSERT INTO change_feed (source, customer_id)
                SELECT TG_ARGV[0], o.customer_id FROM orders o WHERE o.id = k::BIGINT;
        ELSE
            INSERT INTO change_feed (source, item) VALUES (TG_ARGV[0], k);
        END IF;
    END LOOP;
    -- One wake-up per transaction: identical notifications are folded.
    PERFORM pg_notify('c360_feed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER customers_change_feed AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('crm', 'customer', 'id');
CREATE TRIGGER interactions_change_feed AFTER INSERT OR UPDATE OR DELETE ON interactions
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('crm', 'customer', 'customer_id');
CREATE TRIGGER billing_accounts_change_feed AFTER INSERT OR UPDATE OR DELETE ON billing_accounts
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('billing', 'customer', 'customer_id');
CREATE TRIGGER payment_methods_change_feed AFTER INSERT OR UPDATE OR DELETE ON payment_methods
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('billing', 'customer', 'customer_id');
CREATE TRIGGER invoices_change_feed AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('billing', 'customer', 'customer_id');
CREATE TRIGGER orders_change_feed AFTER INSERT OR UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('orders', 'customer', 'customer_id');
CREATE TRIGGER order_lines_change_feed AFTER INSERT OR UPDATE OR DELETE ON order_lines
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('orders', 'order', 'order_id');
CREATE TRIGGER shipments_change_feed AFTER INSERT OR UPDATE OR DELETE ON shipments
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('fulfilment', 'customer', 'customer_id');
CREATE TRIGGER products_change_feed AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('catalog', 'item', 'sku');
CREATE TRIGGER return_policies_change_feed AFTER INSERT OR UPDATE OR DELETE ON return_policies
    FOR EACH ROW EXECUTE FUNCTION c360_record_change('catalog', 'item', 'category');
