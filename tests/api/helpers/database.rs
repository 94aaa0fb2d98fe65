//! A database of each test's own: a SQLite file in a temporary directory, or a Postgres
//! database created for it and dropped after, seeded with [`CUSTOMERS`] customers.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use c360::{
    core::db::{Db, PoolOptions},
    tools::seed::{self, SeedOptions},
};
use sqlx::{Connection, PgConnection};

/// Customers in each test's data set: enough for every case the seed produces.
pub const CUSTOMERS: u64 = 300;

/// Which database the backends use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server tests create their databases on.
fn postgres_base() -> String {
    std::env::var("C360_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
    /// The server it is on (`postgres://user@host:port`).
    postgres_base: String,
}

impl TestDatabase {
    /// An empty database.
    pub async fn empty(backend: Backend) -> Self {
        Self::empty_on(backend, &postgres_base()).await
    }

    /// A database with the reference schema and [`CUSTOMERS`] customers, on the Postgres
    /// server at `base` (`postgres://user@host:port`).
    pub async fn seeded_on(base: &str) -> Self {
        Self::seed_n(Self::empty_on(Backend::Postgres, base).await, CUSTOMERS).await
    }

    async fn empty_on(backend: Backend, base: &str) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path: PathBuf = dir.path().join("c360.db");
                Self {
                    url: format!("sqlite://{}", path.display()),
                    _dir: Some(dir),
                    postgres_name: None,
                    postgres_base: base.to_owned(),
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "c360_test_{}_{}",
                    std::process::id(),
                    NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = admin_connection(base).await;
                run(&mut admin, format!("DROP DATABASE IF EXISTS {name}"))
                    .await
                    .expect("drop leftover test database");
                run(&mut admin, format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres_name: Some(name),
                    postgres_base: base.to_owned(),
                }
            }
        }
    }

    /// A database with the reference schema and [`CUSTOMERS`] customers.
    pub async fn seeded(backend: Backend) -> Self {
        Self::seed_n(Self::empty(backend).await, CUSTOMERS).await
    }

    /// A database with the reference schema and `customers` customers.
    pub async fn seeded_with(backend: Backend, customers: u64) -> Self {
        Self::seed_n(Self::empty(backend).await, customers).await
    }

    async fn seed_n(database: Self, customers: u64) -> Self {
        let db = database.connect_or_create().await;
        seed::seed(&db, &SeedOptions::new(customers, 7), |_| {})
            .await
            .expect("seed the test database");
        db.close().await;
        database
    }

    /// A pool to it (created if it is a new SQLite file).
    pub async fn connect_or_create(&self) -> Db {
        Db::connect_or_create(&self.url, PoolOptions::default())
            .await
            .expect("connect to the test database")
    }
}

/// Runs a statement built from a test database's name (ours, never input).
async fn run(admin: &mut PgConnection, statement: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(admin)
        .await
        .map(drop)
}

async fn admin_connection(base: &str) -> PgConnection {
    let url = format!("{base}/postgres");
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "these tests need PostgreSQL at {url} ({e}); start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
             or run scripts/test, which does"
        )
    })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        let base = self.postgres_base.clone();
        // Drop runs outside async: a short-lived runtime of its own removes the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = admin_connection(&base).await;
                run(
                    &mut admin,
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// The database URL `url` with its host and port replaced by `addr` (a proxy in front of the
/// test server), and the test server's own address.
pub fn through(url: &str, addr: SocketAddr) -> (String, SocketAddr) {
    let (scheme_user, rest) = url.split_once('@').expect("a user in the URL");
    let (host_port, path) = rest.split_once('/').expect("a database in the URL");
    let target = host_port.parse().expect("host:port of the test server");
    (format!("{scheme_user}@{addr}/{path}"), target)
}
