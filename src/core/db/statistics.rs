//! Statistics c360 keeps for its own tables (the attention queue's, the change feed's). A read
//! by key uses the table's index only once the planner knows the table is not tiny, and such
//! a table can go from empty to hundreds of thousands of rows in a minute (a first build, a
//! feed at the writers' full rate): faster than autovacuum looks (once a minute by default),
//! or with autovacuum off. Until it is analyzed every read scans the whole table
//! (BENCHMARKS.md, "The attention queue at the feed's full rate, over 200,000 and 1,000,000
//! customers"). So the rows a replica writes or reads in are counted, and the table is
//! analyzed once they pass a share of what had been counted at the last analysis, as
//! autovacuum's own threshold does.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Db;

/// Rows since the last analysis that call for the next, at least...
const BASE: u64 = 500;
/// ...and this share of every row counted before it.
const SHARE: f64 = 0.2;

/// One table's rows counted, and how many at its last analysis.
#[derive(Debug)]
pub struct Statistics {
    /// `ANALYZE` of the table.
    analyze: &'static str,
    rows: AtomicU64,
    at_last_analysis: AtomicU64,
}

impl Statistics {
    /// Counts for the table that `analyze` (its `ANALYZE` statement) analyzes.
    pub const fn new(analyze: &'static str) -> Self {
        Self {
            analyze,
            rows: AtomicU64::new(0),
            at_last_analysis: AtomicU64::new(0),
        }
    }

    /// `rows` more rows were written to the table, or deleted from it.
    pub fn add(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// The count, if enough rows were added since the last analysis to call for another.
    fn due(&self) -> Option<u64> {
        let rows = self.rows.load(Ordering::Relaxed);
        let last = self.at_last_analysis.load(Ordering::Relaxed);
        (rows.saturating_sub(last) >= BASE + (last as f64 * SHARE) as u64).then_some(rows)
    }

    /// Analyzes the table (on Postgres; SQLite plans without) if enough rows were added since
    /// its last analysis; whether it did.
    pub async fn keep(&self, db: &Db) -> Result<bool, sqlx::Error> {
        let Some(rows) = self.due() else {
            return Ok(false);
        };
        if db.is_postgres() {
            db.execute(self.analyze, &[]).await?;
        }
        self.at_last_analysis.store(rows, Ordering::Relaxed);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analysis_is_due_after_a_base_and_then_a_growing_share() {
        let table = Statistics::new("ANALYZE t");
        table.add(BASE - 1);
        assert_eq!(table.due(), None);
        table.add(1);
        assert_eq!(table.due(), Some(BASE));
        table.at_last_analysis.store(10_000, Ordering::Relaxed);
        table.rows.store(10_000 + BASE + 1_999, Ordering::Relaxed);
        assert_eq!(table.due(), None, "needs 500 + 20 % of 10,000");
        table.add(1);
        assert_eq!(table.due(), Some(12_500));
    }
}
