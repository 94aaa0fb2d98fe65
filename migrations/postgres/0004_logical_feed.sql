-- Following changes by logical decoding (feed.capture = "logical", or "auto" where the
-- database allows it): the write-ahead log already holds every change, so a replica reads
-- it from a replication slot instead of a trigger writing each change twice.
--
-- The publication names the tables whose changes reach the feed. A delete (and an update
-- that moves a row to another customer) must carry the old row's customer, order or item,
-- so every followed table whose key column is not its primary key logs whole old rows.
-- (customers, products and return_policies are keyed by what names them.)

ALTER TABLE interactions REPLICA IDENTITY FULL;
ALTER TABLE billing_accounts REPLICA IDENTITY FULL;
ALTER TABLE payment_methods REPLICA IDENTITY FULL;
ALTER TABLE invoices REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE order_lines REPLICA IDENTITY FULL;
ALTER TABLE shipments REPLICA IDENTITY FULL;

-- (Made whatever wal_level is now, so that a server switched to logical later has it; the
-- warning that it publishes nothing until then is no news.)
SET LOCAL client_min_messages = error;
CREATE PUBLICATION c360_feed FOR TABLE
    customers, interactions, billing_accounts, payment_methods, invoices,
    orders, order_lines, shipments, products, return_policies;

-- The feed's triggers, switched on or off together (a replica that follows by logical
-- decoding switches them off; one that follows by triggers, back on); how many changed.
CREATE FUNCTION c360_set_feed_triggers(enabled BOOLEAN) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    t RECORD;
    changed INTEGER := 0;
BEGIN
    FOR t IN
        SELECT n.nspname AS schema_name, c.relname AS table_name, tg.tgname AS trigger_name
        FROM pg_trigger tg
        JOIN pg_class c ON c.oid = tg.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE tg.tgname LIKE '%\_change\_feed' AND NOT tg.tgisinternal
          AND (tg.tgenabled = 'D') = enabled
    LOOP
        EXECUTE format('ALTER TABLE %I.%I %s TRIGGER %I', t.schema_name, t.table_name,
                       CASE WHEN enabled THEN 'ENABLE' ELSE 'DISABLE' END, t.trigger_name);
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END;
$$;
