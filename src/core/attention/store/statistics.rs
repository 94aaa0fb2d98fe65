//! The queue's table statistics, kept by c360 itself. A derivation reads a customer's items
//! by the table's index only once the planner knows the table is not tiny, and the table can
//! go from empty to hundreds of thousands of rows in a first build, faster than autovacuum
//! looks (once a minute by default), or with autovacuum off: until then every read scans the
//! whole table (BENCHMARKS.md). So the rows this replica writes are counted, and the table is
//! analyzed once they pass a share of what had been written when it was last analyzed, as
//! autovacuum's own threshold does.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Store;

/// Rows written since the last analysis that call for the next, at least...
const BASE: u64 = 500;
/// ...and this share of every row written before it.
const SHARE: f64 = 0.2;

/// Rows this replica wrote to `attention_items`, and how many when the table was last
/// analyzed.
#[derive(Debug, Default)]
pub(super) struct Written {
    rows: AtomicU64,
    at_last_analysis: AtomicU64,
}

impl Written {
    pub(super) fn add(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Whether enough rows were written since the last analysis to call for another.
    fn due(&self) -> Option<u64> {
        let rows = self.rows.load(Ordering::Relaxed);
        let last = self.at_last_analysis.load(Ordering::Relaxed);
        (rows - last >= BASE + (last as f64 * SHARE) as u64).then_some(rows)
    }
}

impl Store {
    /// Analyzes `attention_items` (Postgres) if enough rows were written since it was last
    /// analyzed; whether it did.
    pub async fn keep_statistics(&self) -> Result<bool, sqlx::Error> {
        let Some(rows) = self.written.due() else {
            return Ok(false);
        };
        if self.db.is_postgres() {
            self.db.execute("ANALYZE attention_items", &[]).await?;
        }
        self.written.at_last_analysis.store(rows, Ordering::Relaxed);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analysis_is_due_after_a_base_and_then_a_growing_share() {
        let written = Written::default();
        written.add(BASE - 1);
        assert_eq!(written.due(), None);
        written.add(1);
        assert_eq!(written.due(), Some(BASE));
        written.at_last_analysis.store(10_000, Ordering::Relaxed);
        written.rows.store(10_000 + BASE + 1_999, Ordering::Relaxed);
        assert_eq!(written.due(), None, "needs 500 + 20 % of 10,000");
        written.add(1);
        assert_eq!(written.due(), Some(12_500));
    }
}
