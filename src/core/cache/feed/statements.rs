//! The statements a follower reads the feed table with, on Postgres and on SQLite.

/// The horizon and the highest sequence number, in one snapshot.
pub(super) const START_PG: &str = "SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT), \
     COALESCE((SELECT MAX(seq) FROM change_feed), 0)";
pub(super) const START_SQLITE: &str = "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT), \
     CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM change_feed";
pub(super) const HORIZON_PG: &str =
    "SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)";
pub(super) const OLDEST: &str = "SELECT COALESCE(MIN(seq), 0) FROM change_feed";
/// Postgres: what is new since the highest number read.
pub(super) const READ_NEW_PG: &str = "SELECT seq, CAST(CAST(xid AS TEXT) AS BIGINT) AS xid, source, customer_id, item, \
     CAST(EXTRACT(EPOCH FROM (clock_timestamp() - changed_at)) * 1000000 AS BIGINT) AS age_micros \
     FROM change_feed WHERE seq > $1 ORDER BY seq LIMIT 1000";
/// Postgres: every change the horizon has not passed, a page after sequence number `$2`.
pub(super) const READ_UNSETTLED_PG: &str = "SELECT seq, CAST(CAST(xid AS TEXT) AS BIGINT) AS xid, source, customer_id, item, \
     CAST(EXTRACT(EPOCH FROM (clock_timestamp() - changed_at)) * 1000000 AS BIGINT) AS age_micros \
     FROM change_feed WHERE xid >= CAST(CAST(CAST($1 AS BIGINT) AS TEXT) AS xid8) AND seq > $2 \
     ORDER BY seq LIMIT 1000";
/// SQLite: a row's sequence number stands for its transaction (writers are serialised).
pub(super) const READ_NEW_SQLITE: &str = "SELECT seq, seq AS xid, source, customer_id, item, \
     (unixepoch() - changed_at) * 1000000 AS age_micros \
     FROM change_feed WHERE seq > $1 ORDER BY seq LIMIT 1000";
pub(super) const PRUNE_PG: &str = "DELETE FROM change_feed WHERE changed_at < $1";
pub(super) const PRUNE_SQLITE: &str = "DELETE FROM change_feed WHERE changed_at < $1";
