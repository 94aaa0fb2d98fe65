//! Database connections: per backend URL, Postgres or SQLite, and the reference schema's
//! migrations; the statements every source runs are in [`queries`]. On Postgres what serves
//! a call (a source's one statement per customer, read in [`batches`] with the other
//! customers' asked meanwhile; a lookup; a health check) runs on [`pipes`], pipelined
//! connections c360 holds itself, reached as [`tls`] says; sqlx's pool is kept for the rest
//! (the change feed, the catalog's loads, the seed's transactions, the migrations).

mod batches;
mod errors;
pub mod json;
mod pipes;
mod queries;
mod statistics;
mod tls;

pub use queries::{Bind, Record};
pub(crate) use queries::{explained, per_key};
pub use statistics::Statistics;

use std::sync::Arc;

use std::{str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

use sqlx::{
    ConnectOptions,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions},
};

use crate::core::settings::{Check, MINUTE, MS};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Why a database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no database c360 speaks.
    #[error("unsupported database URL {0:?}: expected postgres://… or sqlite:…")]
    UnsupportedUrl(String),
    /// The URL could not be parsed, or the database could not be reached.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What the driver said.
        #[source]
        error: sqlx::Error,
    },
    /// A SQLite file that should exist does not.
    #[error(
        "the SQLite database {0} does not exist: `c360 seed --database-url sqlite://{0}` creates one (`c360 demo` seeds and serves one)"
    )]
    NoSqliteFile(String),
    /// The reference schema could not be applied.
    #[error("cannot apply the reference schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Pool sizing, per backend.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections open at once: the backend's bulkhead.
    pub max_connections: u32,
    /// How long a query may wait for a connection.
    pub acquire_timeout: Duration,
    /// Postgres: how long a statement may run before the server cancels it, so that a query
    /// nobody waits for any more stops (`statement_timeout`). `None`: no limit.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: None,
        }
    }
}

/// The shared database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`.
    pub url: String,
    /// Connections per backend pool.
    pub max_connections: u32,
    /// How long a query may wait for a free connection.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let pool = PoolOptions::default();
        Self {
            url: "sqlite://c360-demo.db".into(),
            // A database runs a few queries per core at once; more connections only queue
            // inside it, where queueing costs context switches (BENCHMARKS.md, overload: 8
            // per backend served 11 % more uncached reads than 16). Admission control queues
            // the rest in c360, where it is cheap and sheddable.
            max_connections: 8,
            acquire_timeout: pool.acquire_timeout,
        }
    }
}

/// The schemes of the databases c360 speaks.
pub const DATABASE_SCHEMES: &[&str] = &["postgres://", "postgresql://", "sqlite:"];

impl DatabaseSettings {
    /// Refuses every value out of its range; whether `acquire_timeout` holds (what spans
    /// sections is checked against it only then).
    pub fn check(&self, c: &mut Check) -> bool {
        c.url("url", &self.url, DATABASE_SCHEMES);
        c.count("max_connections", u64::from(self.max_connections), 1, 1000);
        c.duration("acquire_timeout", self.acquire_timeout, MS, MINUTE)
    }
}

/// The connections to one backend database.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL.
    Postgres {
        /// Where the reads that serve calls run: at most `max_connections`, pipelined.
        pipes: Arc<pipes::Pipes>,
        /// The reads of a customer, batched, on the pipes.
        batches: Arc<batches::Batches>,
        /// For the rest: the feed's statements and `LISTEN`, the catalog's loads,
        /// transactions, migrations. It opens a connection only when one of those asks, so a
        /// backend's reads never hold more than the pipes.
        pool: PgPool,
    },
    /// SQLite (the embedded default).
    Sqlite(SqlitePool),
}

/// How a pool stands at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Connections open, idle or in use.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

/// The URL without its secrets, for messages: the password is masked, and the query
/// (`?sslpassword=…`, `?password=…`) is left out whole.
pub fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((url, _)) => (url, "?***"),
        None => (url, ""),
    };
    let masked = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    };
    masked + query
}

impl Db {
    /// A pool that connects on first use, so that c360 starts (and degrades) while a backend
    /// is down. A SQLite file must exist: one that does not is a mistake in the URL, not an
    /// outage, and is refused here.
    pub fn connect_lazy(url: &str, options: PoolOptions) -> Result<Self, DbError> {
        Self::open(url, options, false)
    }

    /// A pool to a database that is created if it is a SQLite file that does not exist yet;
    /// for `seed` and `demo`.
    pub async fn connect_or_create(url: &str, options: PoolOptions) -> Result<Self, DbError> {
        let db = Self::open(url, options, true)?;
        db.ping().await.map_err(|error| DbError::Connect {
            url: redact(url),
            error,
        })?;
        Ok(db)
    }

    fn open(url: &str, options: PoolOptions, create: bool) -> Result<Self, DbError> {
        let connect_error = |error| DbError::Connect {
            url: redact(url),
            error,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url)
                .map_err(connect_error)?
                .log_statements(tracing::log::LevelFilter::Trace);
            if let Some(limit) = options.statement_timeout {
                let millis = limit.as_millis().max(1);
                connect = connect.options([("statement_timeout", format!("{millis}ms"))]);
            }
            let (config, tls) = tls::connection(&connect).map_err(connect_error)?;
            let pipes = pipes::Pipes::new(
                config,
                tls,
                options.max_connections,
                options.acquire_timeout,
            );
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy_with(connect);
            let pipes = Arc::new(pipes);
            let on = pipes.clone();
            let run: batches::Run = Arc::new(move |sql, keys, rest| {
                let pipes = on.clone();
                Box::pin(async move { pipes.fetch_keyed(sql, &keys, &rest).await })
            });
            Ok(Self::Postgres {
                pipes,
                batches: Arc::new(batches::Batches::new(run)),
                pool,
            })
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url).map_err(connect_error)?;
            let file = connect.get_filename();
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if !create && !in_memory && !file.exists() {
                return Err(DbError::NoSqliteFile(file.display().to_string()));
            }
            let connect = connect
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .log_statements(tracing::log::LevelFilter::Trace);
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy_with(connect);
            Ok(Self::Sqlite(pool))
        } else {
            Err(DbError::UnsupportedUrl(redact(url)))
        }
    }

    /// Applies the reference schema (idempotent).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Self::Postgres { pool, .. } => POSTGRES_MIGRATIONS.run(pool).await?,
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        if let Self::Postgres { pipes, .. } = self {
            return pipes.ping().await;
        }
        self.fetch_optional::<(i64,)>("SELECT CAST(1 AS BIGINT)", &[])
            .await
            .map(drop)
    }

    /// Its connections now.
    pub fn status(&self) -> PoolStatus {
        let idle = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match self {
            Self::Postgres { pipes, .. } => pipes.status(),
            Self::Sqlite(pool) => PoolStatus {
                size: pool.size(),
                idle: idle(pool.num_idle()),
                max: pool.options().get_max_connections(),
            },
        }
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        match self {
            Self::Postgres { pipes, pool, .. } => {
                pipes.close();
                pool.close().await;
            }
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/c360"),
            "postgres://app:***@db:5432/c360"
        );
        assert_eq!(redact("sqlite://c360.db"), "sqlite://c360.db");
        assert_eq!(
            redact("postgres://app@db/c360?sslmode=verify-full&password=s3cret"),
            "postgres://app:***@db/c360?***"
        );
        assert_eq!(
            redact("redis://:s3cret@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
    }

    #[tokio::test]
    async fn a_sqlite_file_that_does_not_exist_is_refused_with_the_way_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nosuch.db");
        let url = format!("sqlite://{}", missing.display());
        let error = Db::connect_lazy(&url, PoolOptions::default()).unwrap_err();
        let said = error.to_string();
        assert!(matches!(error, DbError::NoSqliteFile(_)), "{said}");
        assert!(
            said.contains("nosuch.db does not exist") && said.contains("c360 seed"),
            "{said}"
        );
        std::fs::write(&missing, b"").unwrap();
        assert!(Db::connect_lazy(&url, PoolOptions::default()).is_ok());
        assert!(Db::connect_lazy("sqlite::memory:", PoolOptions::default()).is_ok());
    }

    #[test]
    fn only_postgres_and_sqlite_urls_are_accepted() {
        let error = Db::connect_lazy("mysql://localhost/x", PoolOptions::default());
        assert!(matches!(error, Err(DbError::UnsupportedUrl(_))));
    }
}
