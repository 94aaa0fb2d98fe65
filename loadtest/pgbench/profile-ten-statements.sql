-- The fixed reference for the miss path (issue 25): per pgbench transaction, the ten statements
-- the four sources sent for one profile before they were reshaped, as they were, for a random
-- customer. scripts/bench runs it with -M prepared beside c360's misses on the same database and
-- at the same concurrency; c360's misses/s over these profiles/s is the ratio. Do not change it
-- when the sources change: it is the yardstick, not a copy of them.
\set id random(1, :customers)
-- billing
SELECT currency, balance_minor, credit_limit_minor FROM billing_accounts WHERE customer_id = :id;
SELECT id, brand, last4, expiry_month, expiry_year, is_default FROM payment_methods WHERE customer_id = :id ORDER BY is_default DESC, id;
SELECT id, order_id, currency, amount_minor, status, failure_reason, issued_at, due_at, paid_at, failed_at FROM invoices WHERE customer_id = :id ORDER BY issued_at DESC, id DESC LIMIT 12;
SELECT id, order_id, currency, amount_minor, status, failure_reason, issued_at, due_at, paid_at, failed_at FROM invoices WHERE customer_id = :id AND status = 'payment_failed' AND failed_at >= now() - interval '180 days' ORDER BY failed_at DESC, id DESC LIMIT 10;
-- orders
SELECT id, customer_id, status, currency, total_minor, placed_at FROM orders WHERE customer_id = :id ORDER BY placed_at DESC, id DESC LIMIT 20;
SELECT l.order_id, l.line_number, l.sku, l.quantity, l.unit_price_minor, l.returned_quantity FROM order_lines l JOIN (SELECT id FROM orders WHERE customer_id = :id ORDER BY placed_at DESC, id DESC LIMIT 20) r ON r.id = l.order_id ORDER BY l.order_id, l.line_number;
SELECT COUNT(DISTINCT o.id) AS order_count, CAST(COALESCE(SUM(l.quantity * l.unit_price_minor), 0) AS BIGINT) AS gross_minor, CAST(COALESCE(SUM(l.returned_quantity * l.unit_price_minor), 0) AS BIGINT) AS refunded_minor, CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) AS units, CAST(COALESCE(SUM(l.returned_quantity), 0) AS BIGINT) AS returned_units FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.customer_id = :id AND o.status <> 'cancelled';
-- fulfilment
SELECT id, order_id, carrier, tracking_number, status, promised_at, shipped_at, delivered_at FROM shipments WHERE customer_id = :id ORDER BY created_at DESC, id DESC LIMIT 30;
-- crm
SELECT id, first_name, last_name, email, phone_e164, tier, loyalty_points, preferred_channel, created_at FROM customers WHERE id = :id;
SELECT id, channel, subject, status, csat, created_at, updated_at FROM interactions WHERE customer_id = :id ORDER BY created_at DESC, id DESC LIMIT 20;
