//! When a commit the stream brought can be read. Postgres writes a commit to its log, and may
//! send it down a replication stream, a moment before the transaction is visible to other
//! sessions (it leaves the list of running transactions after its commit record is flushed).
//! A read started on the word of the stream in that moment misses the change, and what it
//! reads is kept as the customer's newest answer until the next change (a cache entry, an
//! attention item). So the leader applies a batch only once a fresh snapshot sees all of its
//! transactions: nearly always at the first look, one statement.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

/// How long the leader waits for a batch to become visible before applying it anyway.
const WAIT_AT_MOST: Duration = Duration::from_secs(1);
/// How long between looks.
const LOOK_EVERY: Duration = Duration::from_millis(1);

/// Which transactions a snapshot sees, by their 32-bit ids (as the stream names them).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    /// Every transaction before it has ended (low 32 bits of `pg_snapshot_xmax`).
    xmax: u32,
    /// Those before `xmax` still running when it was taken.
    running: Vec<u32>,
}

impl Snapshot {
    /// A snapshot as `pg_current_snapshot()::text` writes it: `xmin:xmax:xip,xip`.
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let _xmin = low(parts.next()?)?;
        let xmax = low(parts.next()?)?;
        let running = match parts.next()? {
            "" => Vec::new(),
            list => list.split(',').map(low).collect::<Option<_>>()?,
        };
        parts.next().is_none().then_some(Self { xmax, running })
    }

    /// Whether a transaction known to have committed is visible in it: it ended before the
    /// snapshot (in the circular order of 32-bit ids) and was not running then.
    fn sees(&self, committed: u32) -> bool {
        let before_xmax = (committed.wrapping_sub(self.xmax) as i32) < 0;
        before_xmax && !self.running.contains(&committed)
    }
}

/// The low 32 bits of a 64-bit transaction id written in decimal.
fn low(text: &str) -> Option<u32> {
    text.parse::<u64>().ok().map(|id| id as u32)
}

/// Waits until a new snapshot of `pool`'s database sees every transaction of `committed`
/// (each known to have committed), for [`WAIT_AT_MOST`] at most; whether it had to wait.
pub(super) async fn visible(pool: &PgPool, committed: &[u32]) -> Result<bool, sqlx::Error> {
    if committed.is_empty() {
        return Ok(false);
    }
    let began = Instant::now();
    let mut waited = false;
    loop {
        let (text,): (String,) = sqlx::query_as("SELECT pg_current_snapshot()::text")
            .fetch_one(pool)
            .await?;
        let Some(snapshot) = Snapshot::parse(&text) else {
            tracing::warn!(snapshot = %text, "a snapshot c360 cannot read: applying without waiting");
            return Ok(waited);
        };
        if committed.iter().all(|&xid| snapshot.sees(xid)) {
            return Ok(waited);
        }
        if began.elapsed() >= WAIT_AT_MOST {
            tracing::warn!(
                waited_ms = began.elapsed().as_millis() as u64,
                "commits read from the log are still not visible: applying them anyway"
            );
            return Ok(true);
        }
        waited = true;
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_what_ended_before_it_and_was_not_running() {
        let snapshot = Snapshot::parse("100:105:100,103").unwrap();
        assert_eq!(
            snapshot,
            Snapshot {
                xmax: 105,
                running: vec![100, 103]
            }
        );
        assert!(snapshot.sees(99));
        assert!(snapshot.sees(104));
        assert!(!snapshot.sees(103), "running when it was taken");
        assert!(!snapshot.sees(105), "not ended before it");
        assert!(!snapshot.sees(106));
        assert_eq!(
            Snapshot::parse("7:9:").unwrap(),
            Snapshot {
                xmax: 9,
                running: vec![]
            }
        );
    }

    #[test]
    fn ids_compare_in_their_circle_and_by_their_low_32_bits() {
        // Epoch 1, just past the wrap: 2^32 + 5.
        let snapshot = Snapshot::parse("4294967290:4294967301:4294967299").unwrap();
        assert_eq!(snapshot.xmax, 5);
        assert!(
            snapshot.sees(u32::MAX - 1),
            "before the wrap, so before xmax"
        );
        assert!(snapshot.sees(1));
        assert!(!snapshot.sees(3), "running: 2^32 + 3");
        assert!(!snapshot.sees(5));
    }

    #[test]
    fn what_is_not_a_snapshot_is_refused() {
        for text in ["", "1:2", "1:2:3:4", "a:2:", "1:2:x"] {
            assert_eq!(Snapshot::parse(text), None, "{text}");
        }
    }
}
