-- The attention queue built at start: see migrations/postgres/0007_attention_backlog.sql.

CREATE INDEX shipments_undelivered_idx ON shipments (customer_id) WHERE delivered_at IS NULL;
CREATE INDEX interactions_open_idx ON interactions (customer_id)
    WHERE status IN ('open', 'pending');
CREATE INDEX interactions_recent_idx ON interactions (created_at, customer_id);
CREATE INDEX interactions_rated_idx ON interactions (updated_at, customer_id, csat)
    WHERE csat IS NOT NULL;
