-- Each change carries its transaction's id. A follower applies changes as they become
-- visible and knows that every transaction below the oldest one still running
-- (pg_snapshot_xmin(pg_current_snapshot())) has committed or rolled back for good: no timer
-- decides when a gap in the sequence numbers was a rollback, so a transaction that commits
-- late (after a second or an hour) is still applied. Rows already in the table get the id of
-- the transaction that runs this migration (they are all committed).

ALTER TABLE change_feed ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
-- The follower re-reads the changes at or above the horizon.
CREATE INDEX change_feed_xid_idx ON change_feed (xid);
