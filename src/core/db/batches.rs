//! Reads of many customers in one statement. A miss asks each backend about one customer;
//! the database's work for such a statement is mostly its own fixed cost (parse, plan,
//! snapshot, protocol), not the rows: a batch of sixteen customers cost Postgres a quarter of
//! sixteen statements (BENCHMARKS.md, "A miss against the backends' own limit, fifth step").
//! So the reads of one statement that arrive while [`UNDER_WAY`] of its batches are under way
//! wait for the next batch, which carries them all (at most [`MOST`]); a read that finds room
//! goes at once, alone, so a quiet replica adds no delay. A batch still under way after
//! [`SLOW`] no longer holds the reads behind it: another starts beside it (at most
//! [`MOST_UNDER_WAY`] at once), so that a statement stuck on a lock or a dying connection, or
//! a hedge, does not wait for the ones before. A read whose caller gave up while it waited is
//! left out of its batch.
//!
//! The statement takes the keys as `$1` (`BIGINT[]`) and answers a row per key: the key and
//! its text (see [`super::per_key`]). Every read of a batch shares its outcome: its own row,
//! or the statement's error.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{sync::oneshot, time::Instant};

use super::{Bind, errors::again, pipes::locked};

/// Batches of one statement under way at once, whatever their age. One would leave the
/// database idle while a batch's answer travels and the next is formed; one made the largest
/// batches and the cheapest misses in release builds (4,768 misses/s against 3,677 at two),
/// but under three times the maximum load, with c360's own CPU short (a debug build), its
/// goodput fell to 0.42–0.57 of the maximum against 0.74–0.81 at two (BENCHMARKS.md).
const UNDER_WAY: usize = 2;

/// A batch under way this long lets another start beside it.
const SLOW: Duration = Duration::from_millis(100);

/// The most batches of one statement under way at once.
const MOST_UNDER_WAY: usize = 4;

/// The most keys in one statement.
const MOST: usize = 64;

/// What runs a batch: the statement, its keys (distinct), the parameters after them.
pub(super) type Run =
    Arc<dyn Fn(&'static str, Vec<i64>, Vec<Bind>) -> BoxFuture<'static, Answers> + Send + Sync>;

/// A batch's rows, a key and its text each.
pub(super) type Answers = Result<Vec<(i64, String)>, sqlx::Error>;

/// The batches of every statement read by key on one database.
pub struct Batches {
    run: Run,
    /// By the address of the statement's text.
    statements: Mutex<Vec<(usize, Arc<Queue>)>>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

/// One statement's reads waiting for a batch, and its batches under way.
#[derive(Default)]
struct Queue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Read>,
    running: usize,
    /// When the latest batch under way left.
    latest: Option<Instant>,
}

struct Read {
    key: i64,
    rest: Vec<Bind>,
    answer: oneshot::Sender<Result<String, sqlx::Error>>,
}

impl Batches {
    /// Batches that run on `run`.
    pub(super) fn new(run: Run) -> Self {
        Self {
            run,
            statements: Mutex::new(Vec::new()),
        }
    }

    /// `sql`'s text for `key`, read in a batch with the other reads of `sql` that wait beside
    /// it. `rest` are the parameters after the keys: a batch binds its first read's, so reads
    /// of one statement must give the same values, or ones that differ only by when they were
    /// asked (billing's window of failed payments).
    pub(super) async fn fetch(
        &self,
        sql: &'static str,
        key: i64,
        rest: &[Bind],
    ) -> Result<String, sqlx::Error> {
        let queue = self.queue(sql);
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = locked(&queue.state);
            state.waiting.push(Read {
                key,
                rest: rest.to_vec(),
                answer,
            });
            let stuck = |left: Instant| left.elapsed() >= SLOW;
            let start = state.running < UNDER_WAY
                || (state.running < MOST_UNDER_WAY && state.latest.is_some_and(stuck));
            state.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(drive(self.run.clone(), queue, sql));
        }
        // The driver only drops a read's sender when the runtime shuts down.
        answered.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }

    fn queue(&self, sql: &'static str) -> Arc<Queue> {
        let key = sql.as_ptr() as usize;
        let mut statements = locked(&self.statements);
        if let Some((_, queue)) = statements.iter().find(|(k, _)| *k == key) {
            return queue.clone();
        }
        let queue = Arc::new(Queue::default());
        statements.push((key, queue.clone()));
        queue
    }
}

/// Runs batches of `queue` until none waits.
async fn drive(run: Run, queue: Arc<Queue>, sql: &'static str) {
    let mut running = Running(Some(&queue));
    loop {
        let batch: Vec<Read> = {
            let mut state = locked(&queue.state);
            state.waiting.retain(|read| !read.answer.is_closed());
            if state.waiting.is_empty() {
                // In the same step as the look, so that a read arriving next starts a driver.
                state.running -= 1;
                running.0 = None;
                return;
            }
            state.latest = Some(Instant::now());
            let n = state.waiting.len().min(MOST);
            state.waiting.drain(..n).collect()
        };
        let mut keys: Vec<i64> = batch.iter().map(|read| read.key).collect();
        keys.sort_unstable();
        keys.dedup();
        let rest = batch[0].rest.clone();
        let answers = run(sql, keys, rest).await;
        answer(batch, answers);
    }
}

/// Gives each read its row, or the batch's error.
fn answer(batch: Vec<Read>, answers: Answers) {
    let mut rows = match answers {
        Ok(rows) => rows,
        Err(error) => {
            for read in batch {
                let _ = read.answer.send(Err(again(&error)));
            }
            return;
        }
    };
    rows.sort_unstable_by_key(|(key, _)| *key);
    // Most keys are read once: the last read of a key takes its text, the others a copy.
    let mut reads = batch;
    reads.sort_by_key(|read| read.key);
    let mut reads = reads.into_iter().peekable();
    while let Some(read) = reads.next() {
        let again = reads.peek().is_some_and(|next| next.key == read.key);
        let text = match rows.binary_search_by_key(&read.key, |(key, _)| *key) {
            Ok(at) if again => Ok(rows[at].1.clone()),
            Ok(at) => Ok(std::mem::take(&mut rows[at].1)),
            Err(_) => Err(sqlx::Error::RowNotFound),
        };
        let _ = read.answer.send(text);
    }
}

/// A driver's count in its queue's batches under way, given back if the driver is dropped
/// half-way (the runtime shutting down).
struct Running<'q>(Option<&'q Queue>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.0 {
            locked(&queue.state).running -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;
    use tokio::{sync::Semaphore, task::JoinHandle};

    use super::*;

    /// A database that answers each batch once the test lets it, and remembers the keys of
    /// every batch; key 13 has no row, and a batch holding key 99 fails.
    struct Fake {
        batches: Arc<Batches>,
        seen: Arc<Mutex<Vec<Vec<i64>>>>,
        gate: Arc<Semaphore>,
    }

    const SQL: &str = "the statement";

    impl Fake {
        fn new() -> Self {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let gate = Arc::new(Semaphore::new(0));
            let (s, g) = (seen.clone(), gate.clone());
            let run: Run = Arc::new(move |_sql, keys: Vec<i64>, _rest| {
                let (seen, gate) = (s.clone(), g.clone());
                async move {
                    locked(&seen).push(keys.clone());
                    gate.acquire().await.unwrap().forget();
                    if keys.contains(&99) {
                        return Err(sqlx::Error::PoolTimedOut);
                    }
                    let rows = keys.iter().filter(|k| **k != 13);
                    Ok(rows.map(|k| (*k, format!("text of {k}"))).collect())
                }
                .boxed()
            });
            Self {
                batches: Arc::new(Batches::new(run)),
                seen,
                gate,
            }
        }

        fn read(&self, key: i64) -> JoinHandle<Result<String, sqlx::Error>> {
            let batches = self.batches.clone();
            tokio::spawn(async move { batches.fetch(SQL, key, &[]).await })
        }

        /// The first reads, which find room and go at once, each alone.
        async fn occupied(&self) -> Vec<JoinHandle<Result<String, sqlx::Error>>> {
            let mut first = Vec::new();
            for key in 1..=UNDER_WAY as i64 {
                first.push(self.read(key));
                settle().await;
            }
            assert_eq!(locked(&self.seen).len(), UNDER_WAY);
            first
        }

        async fn answered(first: Vec<JoinHandle<Result<String, sqlx::Error>>>) {
            for (read, key) in first.into_iter().zip(1..) {
                assert_eq!(answer(read).await.unwrap(), format!("text of {key}"));
            }
        }

        fn batch(&self, n: usize) -> Vec<i64> {
            locked(&self.seen)[n].clone()
        }
    }

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    async fn answer(read: JoinHandle<Result<String, sqlx::Error>>) -> Result<String, sqlx::Error> {
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("answered in time")
            .expect("the read ran")
    }

    #[tokio::test]
    async fn reads_that_arrive_while_batches_run_share_the_next_one() {
        let fake = Fake::new();
        let first = fake.occupied().await;
        let waiting: Vec<_> = [7, 3, 5, 3].map(|k| fake.read(k)).into();
        settle().await;
        assert_eq!(locked(&fake.seen).len(), UNDER_WAY, "no room yet");
        fake.gate.add_permits(UNDER_WAY + 1);
        for (read, key) in waiting.into_iter().zip([7, 3, 5, 3]) {
            assert_eq!(answer(read).await.unwrap(), format!("text of {key}"));
        }
        Fake::answered(first).await;
        assert_eq!(locked(&fake.seen).len(), UNDER_WAY + 1);
        assert_eq!(
            fake.batch(UNDER_WAY),
            [3, 5, 7],
            "each key once, in one batch"
        );
    }

    #[tokio::test]
    async fn a_read_given_up_before_its_batch_leaves_is_left_out() {
        let fake = Fake::new();
        let first = fake.occupied().await;
        let given_up = fake.read(40);
        settle().await;
        given_up.abort();
        let kept = fake.read(41);
        settle().await;
        fake.gate.add_permits(UNDER_WAY + 1);
        assert_eq!(answer(kept).await.unwrap(), "text of 41");
        Fake::answered(first).await;
        assert_eq!(fake.batch(UNDER_WAY), [41]);
    }

    #[tokio::test]
    async fn a_batch_that_fails_fails_each_of_its_reads_and_a_missing_row_only_its_own() {
        let fake = Fake::new();
        let first = fake.occupied().await;
        let failing = [5, 99].map(|k| fake.read(k));
        fake.gate.add_permits(UNDER_WAY + 1);
        for read in failing {
            let error = answer(read).await.unwrap_err();
            assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error}");
        }
        Fake::answered(first).await;
        let (missing, found) = (fake.read(13), fake.read(14));
        fake.gate.add_permits(2);
        let error = answer(missing).await.unwrap_err();
        assert!(matches!(error, sqlx::Error::RowNotFound), "{error}");
        assert_eq!(answer(found).await.unwrap(), "text of 14");
    }

    #[tokio::test]
    async fn a_batch_carries_at_most_the_most_and_the_rest_follow() {
        let fake = Fake::new();
        let first = fake.occupied().await;
        let waiting: Vec<_> = (100..100 + MOST as i64 + 3).map(|k| fake.read(k)).collect();
        settle().await;
        fake.gate.add_permits(UNDER_WAY + 2);
        for read in waiting {
            answer(read).await.unwrap();
        }
        Fake::answered(first).await;
        let sizes: Vec<usize> = locked(&fake.seen).iter().map(Vec::len).collect();
        assert_eq!(sizes[UNDER_WAY..], [MOST, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_under_way_too_long_lets_the_next_start_beside_it() {
        let fake = Fake::new();
        let first = fake.occupied().await;
        tokio::time::advance(SLOW / 2).await;
        let second = fake.read(10);
        settle().await;
        assert_eq!(
            locked(&fake.seen).len(),
            UNDER_WAY,
            "batches under way hold the next"
        );
        tokio::time::advance(SLOW).await;
        let third = fake.read(11);
        settle().await;
        assert_eq!(
            locked(&fake.seen).len(),
            UNDER_WAY + 1,
            "slow ones hold it no more"
        );
        assert_eq!(fake.batch(UNDER_WAY), [10, 11]);
        // At most a few at once, however slow.
        for key in 12..30 {
            tokio::time::advance(SLOW).await;
            drop(fake.read(key));
            settle().await;
        }
        assert_eq!(locked(&fake.seen).len(), MOST_UNDER_WAY);
        fake.gate.add_permits(MOST_UNDER_WAY);
        Fake::answered(first).await;
        for read in [second, third] {
            answer(read).await.unwrap();
        }
    }
}
