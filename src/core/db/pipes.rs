//! The Postgres connections a backend's reads run on, held by c360 and pipelined: a
//! statement goes to the connection with the fewest statements under way, behind them on the
//! same socket; another connection opens when every open one carries [`DEPTH`], up to the
//! backend's `max_connections`; past that a statement waits in c360 for a place (at most the
//! acquire timeout), where its caller's deadline can still take it back. Under load one write carries several statements and one read
//! brings back several answers, where sqlx's one statement per connection cost a write, a read
//! and a wake-up on both sides for each (BENCHMARKS.md, "A miss against the backends' own
//! limit, fourth step"); a quiet replica keeps one connection.
//!
//! Each connection prepares a statement once and keeps it. A statement abandoned half-way (its
//! caller's deadline passed, or a hedge won) leaves the connection sound: its answer is read
//! and dropped. A connection is pinged before use only when it sat idle long enough for a
//! firewall or a restart to have cut it; one the server closed is forgotten and the next
//! statement opens another; one older than [`MAX_LIFETIME`] is retired once its statements are
//! done, so that connections follow a failover.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;
use tokio_postgres::{
    Client, Statement,
    types::{ToSql, Type},
};

use super::{Bind, PoolStatus, errors::from_postgres, tls::Tls};

/// Statements one connection carries before the next one is opened (while fewer than the
/// most are open), and the most it carries. Deeper pipelines cost c360 less CPU per statement
/// (161 µs per miss at 4 against 181 µs on sqlx, 149 µs at 8; BENCHMARKS.md) but queue more
/// on the server, where a statement its caller gave up on still runs: at 8, three times the
/// maximum load left callers timing out instead of being shed (tests/api/faults.rs).
const DEPTH: usize = 4;

/// A connection idle this long is pinged before its next statement.
const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// A connection this old takes no new statements and closes once its last one is done.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Connections to one Postgres database.
#[derive(Debug)]
pub struct Pipes {
    config: tokio_postgres::Config,
    tls: Tls,
    max: usize,
    connect_timeout: Duration,
    state: Mutex<State>,
    /// Told whenever a connection opened, or an opening ended without one, or (while
    /// statements wait) one finished.
    opened: Notify,
    /// Statements waiting for a place.
    waiting: AtomicUsize,
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    pipes: Vec<Arc<Pipe>>,
    /// Connections being opened now, counted against the most.
    opening: usize,
}

#[derive(Debug)]
struct Pipe {
    client: Client,
    opened: Instant,
    in_flight: AtomicUsize,
    last_used: Mutex<Instant>,
    /// The statements prepared on this connection, by the address of their text.
    prepared: Mutex<Vec<(usize, Statement)>>,
}

/// A statement's place on a connection, given back when it is done or dropped.
struct Seat<'p>(Arc<Pipe>, &'p Pipes);

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.1.waiting.load(Ordering::SeqCst) > 0 {
            self.1.opened.notify_waiters();
        }
    }
}

/// A connection being opened, counted against the most until it is open, failed, or its
/// caller gave up.
struct Opening<'p>(Option<&'p Pipes>);

impl Opening<'_> {
    /// The opening over: the connection it opened (unless closed meanwhile) joins the others
    /// in the same step, so that the count never dips below what is open.
    fn done(&mut self, pipe: Option<Arc<Pipe>>) {
        let Some(pipes) = self.0.take() else { return };
        let mut state = locked(&pipes.state);
        state.opening -= 1;
        if let Some(pipe) = pipe
            && !pipes.closed.load(Ordering::Acquire)
        {
            state.pipes.push(pipe);
        }
        drop(state);
        pipes.opened.notify_waiters();
    }
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.done(None);
    }
}

enum Choice<'p> {
    Ride(Seat<'p>),
    Open,
    Wait,
}

pub(super) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pipes {
    /// At most `max` connections to the database of `config`; none opened before it is needed.
    pub(super) fn new(
        config: tokio_postgres::Config,
        tls: Tls,
        max: u32,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            config,
            tls,
            max: max.max(1) as usize,
            connect_timeout,
            state: Mutex::new(State::default()),
            opened: Notify::new(),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `sql`, which returns one row of one text column, and hands that text to `decode`.
    pub(super) async fn fetch_text<T>(
        &self,
        sql: &'static str,
        binds: &[Bind],
        decode: impl FnOnce(&str) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let seat = self.seat().await?;
        let pipe = &seat.0;
        let types = || binds.iter().map(|bind| parameter(bind).1).collect();
        let statement = pipe.prepare(sql, types).await.map_err(from_postgres)?;
        let params: Vec<_> = binds.iter().map(|bind| parameter(bind).0).collect();
        let row = pipe
            .client
            .query_one(&statement, &params)
            .await
            .map_err(from_postgres)?;
        let text: &str = row
            .try_get(0)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        decode(text)
    }

    /// Runs `sql` for many keys in one statement: `$1` is the keys (`BIGINT[]`), `rest` the
    /// parameters after it, and each row a key and its text.
    pub(super) async fn fetch_keyed(
        &self,
        sql: &'static str,
        keys: &[i64],
        rest: &[Bind],
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        let seat = self.seat().await?;
        let pipe = &seat.0;
        let types = || {
            std::iter::once(Type::INT8_ARRAY)
                .chain(rest.iter().map(|bind| parameter(bind).1))
                .collect()
        };
        let statement = pipe.prepare(sql, types).await.map_err(from_postgres)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(1 + rest.len());
        params.push(&keys);
        params.extend(rest.iter().map(|bind| parameter(bind).0));
        let rows = pipe
            .client
            .query(&statement, &params)
            .await
            .map_err(from_postgres)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }

    /// Checks that the database answers, on a connection as a statement would use.
    pub(super) async fn ping(&self) -> Result<(), sqlx::Error> {
        let seat = self.seat().await?;
        seat.0
            .client
            .simple_query("")
            .await
            .map_err(from_postgres)?;
        Ok(())
    }

    /// A place on a sound connection, opening one if the rule above asks.
    async fn seat(&self) -> Result<Seat<'_>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(sqlx::Error::PoolClosed);
            }
            let opened = self.opened.notified();
            // Counted as waiting before choosing, so that a place given back meanwhile
            // is told.
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let choice = self.choose();
            if !matches!(choice, Choice::Wait) {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            }
            match choice {
                Choice::Ride(seat) => match seat.0.checked().await {
                    true => return Ok(seat),
                    false => self.forget(&seat.0),
                },
                Choice::Open => return self.open().await,
                Choice::Wait => {
                    let waited = tokio::time::timeout_at(deadline, opened).await;
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    if waited.is_err() {
                        return Err(sqlx::Error::PoolTimedOut);
                    }
                }
            }
        }
    }

    fn choose(&self) -> Choice<'_> {
        let mut state = locked(&self.state);
        state
            .pipes
            .retain(|p| !p.client.is_closed() && p.opened.elapsed() < MAX_LIFETIME);
        let room = state.pipes.len() + state.opening < self.max;
        let least = state
            .pipes
            .iter()
            .min_by_key(|p| p.in_flight.load(Ordering::Acquire));
        let ride = |pipe: &Arc<Pipe>| {
            pipe.in_flight.fetch_add(1, Ordering::AcqRel);
            Choice::Ride(Seat(pipe.clone(), self))
        };
        match least {
            Some(pipe) if pipe.in_flight.load(Ordering::Acquire) < DEPTH => ride(pipe),
            _ if room => {
                state.opening += 1;
                Choice::Open
            }
            // Every connection open or opening, and full: wait for a place, as long as the
            // caller's deadline allows and at most the acquire timeout. A deeper pipeline
            // would queue statements on the server that nobody can take back once their
            // callers gave up (the overload test in tests/api/faults.rs).
            _ => Choice::Wait,
        }
    }

    /// Opens a connection and takes the first place on it.
    async fn open(&self) -> Result<Seat<'_>, sqlx::Error> {
        let mut opening = Opening(Some(self));
        let connected =
            tokio::time::timeout(self.connect_timeout, self.config.connect(self.tls.clone())).await;
        let (client, connection) = connected
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(from_postgres)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a Postgres connection ended");
            }
        });
        let now = Instant::now();
        let pipe = Arc::new(Pipe {
            client,
            opened: now,
            in_flight: AtomicUsize::new(1),
            last_used: Mutex::new(now),
            prepared: Mutex::new(Vec::new()),
        });
        opening.done(Some(pipe.clone()));
        match self.closed.load(Ordering::Acquire) {
            true => Err(sqlx::Error::PoolClosed),
            false => Ok(Seat(pipe, self)),
        }
    }

    fn forget(&self, pipe: &Arc<Pipe>) {
        locked(&self.state).pipes.retain(|p| !Arc::ptr_eq(p, pipe));
    }

    /// Its connections now.
    pub(super) fn status(&self) -> PoolStatus {
        let state = locked(&self.state);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let busy = state
            .pipes
            .iter()
            .filter(|p| p.in_flight.load(Ordering::Acquire) > 0)
            .count();
        PoolStatus {
            size: count(state.pipes.len()),
            idle: count(state.pipes.len() - busy),
            max: count(self.max),
        }
    }

    /// Closes every connection once its statements are done; statements after this fail with
    /// `PoolClosed`.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // A connection closes (saying goodbye to the server) when its last handle is gone.
        locked(&self.state).pipes.clear();
        self.opened.notify_waiters();
    }
}

impl Pipe {
    /// Whether the connection may take a statement: open, and answering if it sat idle long.
    async fn checked(&self) -> bool {
        if self.client.is_closed() {
            return false;
        }
        let idle = {
            let mut last_used = locked(&self.last_used);
            let idle = last_used.elapsed();
            *last_used = Instant::now();
            idle
        };
        idle < PING_IDLE_AFTER || self.client.simple_query("").await.is_ok()
    }

    /// `sql` prepared on this connection, the first time with its parameters' `types`.
    async fn prepare(
        &self,
        sql: &'static str,
        types: impl FnOnce() -> Vec<Type>,
    ) -> Result<Statement, tokio_postgres::Error> {
        let key = sql.as_ptr() as usize;
        if let Some((_, statement)) = locked(&self.prepared).iter().find(|(k, _)| *k == key) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare_typed(sql, &types()).await?;
        locked(&self.prepared).push((key, statement.clone()));
        Ok(statement)
    }
}

/// A bound value as tokio-postgres takes it, with the type it is prepared with.
fn parameter(bind: &Bind) -> (&(dyn ToSql + Sync), Type) {
    match bind {
        Bind::Int(v) => (v, Type::INT8),
        Bind::Text(v) => (v, Type::TEXT),
        Bind::Time(v) => (v, Type::TIMESTAMPTZ),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;
    use tokio::net::TcpListener;

    use super::*;

    /// A caller that gives up while its connection is being opened gives its place back:
    /// with room for one connection, each new caller opens again instead of waiting for an
    /// opening nobody finishes.
    #[tokio::test]
    async fn an_opening_abandoned_by_its_caller_leaves_room_for_the_next() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "postgres://c360@{}/c360?sslmode=disable",
            listener.local_addr().unwrap()
        );
        let (config, tls) =
            super::super::tls::connection(&PgConnectOptions::from_str(&url).unwrap()).unwrap();
        let pipes = Pipes::new(config, tls, 1, Duration::from_secs(30));
        // The server accepts and never answers.
        let (accepted, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                held.push(listener.accept().await.unwrap().0);
                accepted.send(()).unwrap();
            }
        });
        for attempt in 0..3 {
            let read = pipes.fetch_text("SELECT '1'", &[], |text| Ok(text.to_owned()));
            let gave_up = tokio::time::timeout(Duration::from_millis(100), read).await;
            assert!(gave_up.is_err(), "nobody answers: {gave_up:?}");
            let tried = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await;
            assert!(tried.is_ok(), "attempt {attempt} opened no connection");
        }
        server.abort();
        assert_eq!(pipes.status().size, 0);
    }
}
