-- The attention queue built at start (src/core/attention/build.rs): the customers who hold
-- something that is, or may become by time alone, a reason for contact, found by index
-- instead of by reading every customer. Each index is partial or narrow, so that what the
-- backends' writers pay for it stays small.

-- Fulfilment: parcels not delivered.
CREATE INDEX shipments_undelivered_idx ON shipments (customer_id) WHERE delivered_at IS NULL;
-- CRM: interactions still open.
CREATE INDEX interactions_open_idx ON interactions (customer_id)
    WHERE status IN ('open', 'pending');
-- CRM: recent contacts (repeat contacts).
CREATE INDEX interactions_recent_idx ON interactions (created_at, customer_id);
-- CRM: recent ratings (low satisfaction).
CREATE INDEX interactions_rated_idx ON interactions (updated_at, customer_id, csat)
    WHERE csat IS NOT NULL;
