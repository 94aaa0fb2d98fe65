//! Test support: a fresh, seeded database per test (SQLite file or Postgres database), the
//! real server on an ephemeral port, and real gRPC clients.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use c360::{
    app::App,
    config::Settings,
    db::{Bind, Db, PoolOptions},
    pb::{
        cache_admin_service_client::CacheAdminServiceClient,
        catalog_service_client::CatalogServiceClient,
        customer_service_client::CustomerServiceClient,
    },
    profiles::Profiles,
    seed::{self, SeedOptions},
    server,
    sources::SourceKind,
};
use sqlx::{Connection, PgConnection};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};

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
}

impl TestDatabase {
    /// An empty database.
    pub async fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path: PathBuf = dir.path().join("c360.db");
                Self {
                    url: format!("sqlite://{}", path.display()),
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "c360_test_{}_{}",
                    std::process::id(),
                    NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = admin_connection().await;
                run(&mut admin, format!("DROP DATABASE IF EXISTS {name}"))
                    .await
                    .expect("drop leftover test database");
                run(&mut admin, format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                Self {
                    url: format!("{}/{name}", postgres_base()),
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// A database with the reference schema and [`CUSTOMERS`] customers.
    pub async fn seeded(backend: Backend) -> Self {
        let database = Self::empty(backend).await;
        let db = database.connect_or_create().await;
        seed::seed(&db, &SeedOptions::new(CUSTOMERS, 7), |_| {})
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

async fn admin_connection() -> PgConnection {
    let url = format!("{}/postgres", postgres_base());
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
        // Drop runs outside async: a short-lived runtime of its own removes the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = admin_connection().await;
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

/// A running c360 and clients of it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub customers: CustomerServiceClient<Channel>,
    pub catalog: CatalogServiceClient<Channel>,
    pub admin: CacheAdminServiceClient<Channel>,
    pub channel: Channel,
    /// The seeded backend database, to check answers against.
    pub db: Db,
    pub profiles: Profiles,
    shutdown: Option<oneshot::Sender<()>>,
    pub server: Option<JoinHandle<Result<(), server::ServeError>>>,
    _database: Arc<TestDatabase>,
}

/// c360 over a freshly seeded `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// c360 over a freshly seeded `backend`, with settings adjusted by `configure`.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let database = Arc::new(TestDatabase::seeded(backend).await);
    spawn_replica(database, configure).await
}

/// The settings of a replica over `database`.
pub fn settings_for(database: &TestDatabase) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = database.url.clone();
    settings
}

/// One more c360 over `database`, with settings adjusted by `configure`.
pub async fn spawn_replica(
    database: Arc<TestDatabase>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = settings_for(&database);
    configure(&mut settings);
    let app = App::connect(&settings).await.expect("build the app");
    serve(app, database).await
}

/// Serves `app` (over `database`) on an ephemeral port.
pub async fn serve(app: App, database: Arc<TestDatabase>) -> TestApp {
    let profiles = app.profiles().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let (shutdown, stopped) = oneshot::channel();
    let server = tokio::spawn(server::run(listener, app, async {
        let _ = stopped.await;
    }));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the server");
    TestApp {
        addr,
        customers: CustomerServiceClient::new(channel.clone()),
        catalog: CatalogServiceClient::new(channel.clone()),
        admin: CacheAdminServiceClient::new(channel.clone()),
        channel,
        db: database.connect_or_create().await,
        profiles,
        shutdown: Some(shutdown),
        server: Some(server),
        _database: database,
    }
}

static NEXT_PREFIX: AtomicU32 = AtomicU32::new(0);

/// A Redis key prefix no other test (or test run) uses.
pub fn redis_prefix() -> String {
    format!(
        "c360test:{}:{}:{}",
        std::process::id(),
        NEXT_PREFIX.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    )
}

/// The shared local Redis, with a prefix of its own: for tests that do not break Redis.
pub fn use_shared_redis(settings: &mut Settings, prefix: &str) {
    settings.redis.url = Some(shared_redis_url());
    settings.redis.prefix = prefix.to_owned();
}

fn shared_redis_url() -> String {
    std::env::var("C360_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis server of the test's own, on a free port, to stop and start at will.
pub struct TestRedis {
    pub port: u16,
    process: Option<std::process::Child>,
}

impl TestRedis {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self {
            port,
            process: None,
        };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it, by the pid this test started.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let process = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("these tests need redis-server on the PATH: apt-get install redis-server");
        self.process = Some(process);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits up to `limit` for `check` to pass, trying every 10 ms; the time it took.
pub async fn eventually<F, Fut>(
    limit: std::time::Duration,
    mut check: F,
) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

impl TestApp {
    /// Reads of `kind` the fan-out has started.
    pub fn reads(&self, kind: SourceKind) -> u64 {
        self.profiles.fanout().reads(kind)
    }

    /// The fingerprint of the catalog this replica enriches from.
    pub fn profiles_catalog(&self) -> u64 {
        self.profiles.catalog().snapshot().fingerprint()
    }

    /// Reads of every backend, in `SourceKind::ALL` order.
    pub fn all_reads(&self) -> [u64; 4] {
        SourceKind::ALL.map(|kind| self.reads(kind))
    }

    /// Signals the server to stop.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// One integer from `sql` (which takes `binds`).
    pub async fn scalar(&self, sql: &'static str, binds: &[Bind]) -> i64 {
        let row: Option<(i64,)> = self.db.fetch_optional(sql, binds).await.expect(sql);
        row.expect("a row").0
    }

    /// One text value from `sql`.
    pub async fn text(&self, sql: &'static str, binds: &[Bind]) -> String {
        let row: Option<(String,)> = self.db.fetch_optional(sql, binds).await.expect(sql);
        row.expect("a row").0
    }

    /// A customer with orders, shipments, interactions and a billing account.
    pub async fn busy_customer(&self) -> i64 {
        self.scalar(
            "SELECT c.id FROM customers c WHERE \
             (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id AND o.status <> 'cancelled') >= 3 \
             AND EXISTS (SELECT 1 FROM interactions i WHERE i.customer_id = c.id) \
             ORDER BY c.id LIMIT 1",
            &[],
        )
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs each named `async fn(Backend)` of the calling module once over SQLite and once over
/// Postgres.
#[macro_export]
macro_rules! over_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}
