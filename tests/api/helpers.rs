//! Test support: a fresh, seeded database per test (SQLite file or Postgres database), the
//! real server on an ephemeral port, and real gRPC clients with a method per call
//! (`helpers/calls.rs`).

mod calls;
mod cluster;
mod database;
mod pki;
mod ports;
mod postgres;
mod redis;

use std::{net::SocketAddr, sync::Arc};

use c360::{
    app::App,
    app::config::Settings,
    core::db::{Bind, Db},
    core::read::Profiles,
    core::vocab::{PerSource, SourceKind},
    edge::server,
};
use c360_proto::{
    attention_service_client::AttentionServiceClient,
    cache_admin_service_client::CacheAdminServiceClient,
    catalog_service_client::CatalogServiceClient, customer_service_client::CustomerServiceClient,
    offer_service_client::OfferServiceClient,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub use calls::{first_line, get, mask, masked, reads_each};
pub use cluster::TestRedisCluster;
pub use database::{Backend, CUSTOMERS, TestDatabase, through};
pub use pki::{Leaf, TestCa};
pub use postgres::TestPostgres;
pub use redis::{TestRedis, redis_prefix, shared_redis_url};

/// A running c360 and clients of it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    pub customers: CustomerServiceClient<Channel>,
    pub catalog: CatalogServiceClient<Channel>,
    pub admin: CacheAdminServiceClient<Channel>,
    pub attention: AttentionServiceClient<Channel>,
    pub offers: OfferServiceClient<Channel>,
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
    // Tests stop their servers at once (the drain has a test of its own).
    settings.server.drain = std::time::Duration::ZERO;
    // The attention queue loads every changed customer's profile again: the tests that count
    // the backends' reads would count its loads too. Its own tests turn it on.
    settings.attention.enabled = false;
    // The history index reads and indexes every message at start, beside the calls under
    // test: the tests that time the feed's lag or a cold replica's loads would time it too.
    // Its own tests (and the demo's) turn it on.
    settings.search.enabled = false;
    // Every replica of a test shares this L2 key (32 bytes of 0x2a).
    settings.redis.encryption_keys = vec![c360::core::settings::Secret::new(
        "test:KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
    )];
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

/// `count` replicas over one freshly seeded Postgres database, sharing the Redis at
/// `redis_url` under a key prefix of their own, with settings adjusted by `configure`.
pub async fn spawn_replicas(
    redis_url: &str,
    count: usize,
    configure: impl Fn(&mut Settings),
) -> Vec<TestApp> {
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let prefix = redis_prefix();
    let mut apps = Vec::new();
    for _ in 0..count {
        let app = spawn_replica(database.clone(), |settings| {
            settings.redis.url = Some(redis_url.to_owned());
            settings.redis.prefix = prefix.clone();
            configure(settings);
        })
        .await;
        apps.push(app);
    }
    apps
}

/// Serves `app` (over `database`) on an ephemeral port, once it reports itself ready (so
/// that no test warms a cache its feed follower is about to flush).
pub async fn serve(app: App, database: Arc<TestDatabase>) -> TestApp {
    let test = serve_unready(app, database).await;
    let ready = eventually(std::time::Duration::from_secs(10), || async {
        test.health("").await == ServingStatus::Serving
    })
    .await;
    assert!(ready.is_some(), "the replica never became ready");
    test
}

/// Serves `app` (over `database`) on an ephemeral port, ready or not.
pub async fn serve_unready(app: App, database: Arc<TestDatabase>) -> TestApp {
    let profiles = app.profiles().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let metrics_addr = metrics.local_addr().expect("local address");
    let (shutdown, stopped) = oneshot::channel();
    let server = tokio::spawn(app.serve(listener, Some(metrics), async {
        let _ = stopped.await;
    }));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the server");
    TestApp {
        addr,
        metrics_addr,
        customers: CustomerServiceClient::new(channel.clone()),
        catalog: CatalogServiceClient::new(channel.clone()),
        admin: CacheAdminServiceClient::new(channel.clone()),
        attention: AttentionServiceClient::new(channel.clone()),
        offers: OfferServiceClient::new(channel.clone()),
        channel,
        db: database.connect_or_create().await,
        profiles,
        shutdown: Some(shutdown),
        server: Some(server),
        _database: database,
    }
}

/// A scrape of `/metrics` (the Prometheus text format).
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the one series named `name` with exactly `labels` (in any order).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.lines().find_map(|line| {
            if line.starts_with('#') {
                return None;
            }
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let mut found: Vec<(&str, &str)> = series_labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once("=\"")?;
                    Some((k, v.trim_end_matches('"')))
                })
                .collect();
            let mut wanted = labels.to_vec();
            found.sort();
            wanted.sort();
            (found == wanted).then(|| value.parse().ok()).flatten()
        })
    }

    /// [`Self::value`], which must be there.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape:\n{}", self.0))
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
    /// `GET path` on the metrics listener with `headers`: the status code and the body.
    pub async fn scrape_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.metrics_addr)
            .await
            .expect("connect to the metrics listener");
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: c360\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, body.to_owned())
    }

    /// The figures `/metrics` serves now.
    pub async fn scrape(&self) -> Metrics {
        let (status, body) = self.scrape_with("/metrics", &[]).await;
        assert_eq!(status, 200, "{body}");
        Metrics(body)
    }

    /// The URL of its backend database.
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    /// What health says of `service` (`""`: the whole server).
    pub async fn health(&self, service: &str) -> ServingStatus {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        HealthClient::new(self.channel.clone())
            .check(request)
            .await
            .expect("health answers")
            .into_inner()
            .status()
    }

    /// Reads of `kind` the fan-out has started.
    pub fn reads(&self, kind: SourceKind) -> u64 {
        self.profiles.fanout().reads(kind)
    }

    /// The fingerprint of the catalog this replica enriches from.
    pub fn profiles_catalog(&self) -> u64 {
        self.profiles.catalog().snapshot().fingerprint()
    }

    /// Reads of every backend.
    pub fn all_reads(&self) -> PerSource<u64> {
        PerSource::from_fn(|kind| self.reads(kind))
    }

    /// Signals the server to stop.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Stops the server and waits until it, and its background tasks, have ended.
    pub async fn stop_and_wait(mut self) {
        self.stop();
        self.disconnect();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        }
    }

    /// Lets go of the connection to the server (the clients then point at a closed port), so
    /// that a stopping server sees its last caller leave.
    pub fn disconnect(&mut self) {
        let nowhere = Endpoint::from_static("http://127.0.0.1:9").connect_lazy();
        self.customers = CustomerServiceClient::new(nowhere.clone());
        self.catalog = CatalogServiceClient::new(nowhere.clone());
        self.admin = CacheAdminServiceClient::new(nowhere.clone());
        self.channel = nowhere;
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
