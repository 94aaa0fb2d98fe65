//! TLS to callers, as a real gRPC client over rustls sees it: only TLS is served, a renewed
//! certificate reaches new connections without a restart, a broken one leaves the last good
//! one in service, and with a client CA only callers holding a certificate it issued get in.
//! And TLS to Postgres and Redis when their URLs ask for it, against servers of the tests'
//! own with certificates of the tests' own CA.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use c360::{
    app::App, app::config::Settings, core::vocab::CustomerId, edge::server,
    edge::server::TlsSettings,
};
use c360_proto::{CacheTier, SourceStatus, customer_service_client::CustomerServiceClient};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::helpers::{
    Backend, Leaf, TestCa, TestDatabase, TestPostgres, TestRedis, eventually, get, serve_unready,
    settings_for, spawn_replica, spawn_replicas,
};

/// A c360 serving TLS over a seeded SQLite database.
struct TlsServer {
    addr: SocketAddr,
    /// `/metrics`.
    metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), server::ServeError>>,
    _database: Arc<TestDatabase>,
}

impl TlsServer {
    async fn start(tls: TlsSettings) -> Self {
        let database = Arc::new(TestDatabase::seeded(Backend::Sqlite).await);
        let mut settings: Settings = settings_for(&database);
        settings.server.tls = Some(tls);
        let app = App::connect(&settings).await.expect("build the app");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local address");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let metrics_addr = metrics.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(app.serve(listener, Some(metrics), async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            metrics: metrics_addr,
            stop: Some(stop),
            server,
            _database: database,
        }
    }

    /// Whether a new connection trusting `ca` (presenting `identity`) gets a profile.
    async fn serves(&self, ca: &str, identity: Option<&Leaf>) -> bool {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some(leaf) = identity {
            tls = tls.identity(Identity::from_pem(&leaf.cert, &leaf.key));
        }
        let endpoint = Endpoint::from_shared(format!("https://{}", self.addr))
            .expect("endpoint")
            .timeout(Duration::from_secs(5))
            .tls_config(tls)
            .expect("TLS settings");
        let Ok(channel) = endpoint.connect().await else {
            return false;
        };
        CustomerServiceClient::new(channel)
            .get_customer_profile(get(3))
            .await
            .is_ok()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    }
}

fn settings(dir: &Path, leaf: &Leaf, client_ca: Option<&TestCa>) -> TlsSettings {
    let (cert_file, key_file) = leaf.write(dir, "server");
    let client_ca_file = client_ca.map(|ca| {
        let path = dir.join("clients.crt");
        std::fs::write(&path, ca.pem()).expect("write the client CA");
        path
    });
    TlsSettings {
        cert_file,
        key_file,
        client_ca_file,
        reload_interval: Duration::from_millis(50),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tls_is_served_and_a_renewed_certificate_reaches_new_connections() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (old_ca, new_ca) = (TestCa::new("c360 test CA 1"), TestCa::new("c360 test CA 2"));
    let tls = settings(dir.path(), &old_ca.issue("c360"), None);
    let c360 = TlsServer::start(tls).await;
    let (old_pem, new_pem) = (old_ca.pem(), new_ca.pem());
    let up = eventually(Duration::from_secs(10), || c360.serves(&old_pem, None)).await;
    assert!(up.is_some(), "a TLS client is served");
    // Plaintext is not spoken to; a client trusting another CA does not trust this server.
    let plaintext = Endpoint::from_shared(format!("http://{}", c360.addr))
        .expect("endpoint")
        .timeout(Duration::from_secs(5));
    let answered = match plaintext.connect().await {
        Ok(channel) => CustomerServiceClient::new(channel)
            .get_customer_profile(get(3))
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!answered, "plaintext must not be served");
    assert!(!c360.serves(&new_ca.pem(), None).await);

    // Renewed by the other CA: new connections get the new certificate.
    new_ca.issue("c360").write(dir.path(), "server");
    let renewed = eventually(Duration::from_secs(10), || c360.serves(&new_pem, None)).await;
    assert!(renewed.is_some(), "the renewed certificate is served");
    assert!(
        !c360.serves(&old_ca.pem(), None).await,
        "the old one is not"
    );

    // A certificate that does not load leaves the last good one in service.
    std::fs::write(dir.path().join("server.crt"), "not a certificate").expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c360.serves(&new_ca.pem(), None).await);
    c360.stop().await;
}

/// `GET /metrics` over a connection trusting `ca`: the response, or nothing.
async fn scrape_over_tls(addr: SocketAddr, ca: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.ok()?).ok()?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    let mut tls = connector.connect(name, tcp).await.ok()?;
    let request = "GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await.ok()?;
    Some(response)
}

/// With `[server.tls]` set, `/metrics` is served over TLS too, and not in plaintext (issue
/// 24, item 8): a scrape's credentials never cross the network in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_over_tls_when_the_server_is() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("c360 test CA");
    let c360 = TlsServer::start(settings(dir.path(), &ca.issue("c360"), None)).await;
    let response = scrape_over_tls(c360.metrics, &ca.pem())
        .await
        .expect("a scrape over TLS");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("c360_build_info"), "{response}");
    let mut plain = tokio::net::TcpStream::connect(c360.metrics).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the plaintext connection was neither answered nor closed"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("c360_build_info"),
        "figures served in plaintext"
    );
    c360.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_only_callers_holding_its_certificates_get_in() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server_ca, client_ca, stranger_ca) = (
        TestCa::new("c360 servers"),
        TestCa::new("c360 callers"),
        TestCa::new("someone else"),
    );
    let tls = settings(dir.path(), &server_ca.issue("c360"), Some(&client_ca));
    let c360 = TlsServer::start(tls).await;
    let (caller, server_pem) = (client_ca.issue("agent-desk"), server_ca.pem());
    let up = eventually(Duration::from_secs(10), || {
        c360.serves(&server_pem, Some(&caller))
    })
    .await;
    assert!(
        up.is_some(),
        "a caller with a certificate of the client CA is served"
    );
    assert!(!c360.serves(&server_ca.pem(), None).await, "no certificate");
    let stranger = stranger_ca.issue("agent-desk");
    assert!(
        !c360.serves(&server_ca.pem(), Some(&stranger)).await,
        "a certificate of another CA"
    );
    c360.stop().await;
}

#[tokio::test]
async fn a_certificate_that_does_not_load_stops_the_start_saying_which_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("c360 test CA");
    let mut tls = settings(dir.path(), &ca.issue("c360"), None);
    // The key of another certificate.
    let (_, other_key) = ca.issue("other").write(dir.path(), "other");
    tls.key_file = other_key;
    let database = TestDatabase::seeded(Backend::Sqlite).await;
    let mut settings = settings_for(&database);
    settings.server.tls = Some(tls.clone());
    let app = App::connect(&settings).await.expect("build the app");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        app.serve(listener, None, std::future::pending()),
    )
    .await
    .expect("it stops at once")
    .expect_err("a key that does not match is refused");
    assert!(error.to_string().contains("other.key"), "{error}");

    tls.key_file = dir.path().join("missing.key");
    settings.server.tls = Some(tls);
    let app = App::connect(&settings).await.expect("build the app");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let error = app
        .serve(listener, None, std::future::pending())
        .await
        .expect_err("a missing key is refused");
    assert!(error.to_string().contains("missing.key"), "{error}");
}

/// Postgres asked for TLS in its URL (`sslmode=verify-full` with the CA that issued the
/// server's certificate): every connection c360 holds is encrypted, as the server itself
/// reports (`pg_stat_ssl`); a CA that did not issue it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_is_spoken_to_over_tls_when_its_url_asks() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ca, stranger) = (TestCa::new("c360 database CA"), TestCa::new("someone else"));
    let leaf = ca.issue("postgres");
    let postgres = TestPostgres::start_with_tls(&leaf.cert, &leaf.key);
    let database = Arc::new(TestDatabase::seeded_on(&postgres.base_url()).await);
    let (ca_file, stranger_file) = (dir.path().join("ca.crt"), dir.path().join("other.crt"));
    std::fs::write(&ca_file, ca.pem()).expect("write the CA");
    std::fs::write(&stranger_file, stranger.pem()).expect("write the other CA");
    let tls_url = |ca: &Path| {
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            database.url,
            ca.display()
        )
    };

    let app = spawn_replica(database.clone(), |s| {
        s.database.url = tls_url(&ca_file);
        s.database.max_connections = 2;
    })
    .await;
    let profile = app.profile(3).await;
    assert!(
        profile
            .sources
            .iter()
            .all(|s| s.status() == SourceStatus::Ok)
    );
    let name = database.url.rsplit('/').next().expect("a database name");
    let count = |ssl: bool| {
        let sql = "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                   WHERE datname = $1 AND ssl = $2 AND pid <> pg_backend_pid()";
        sqlx::query_scalar::<_, i64>(sql)
            .bind(name.to_owned())
            .bind(ssl)
    };
    let pool = sqlx::PgPool::connect(&postgres.base_url())
        .await
        .expect("connect");
    let encrypted = count(true).fetch_one(&pool).await.expect("query");
    let plain = count(false).fetch_one(&pool).await.expect("query");
    assert!(encrypted > 0, "c360's connections are encrypted");
    // The test's own handle on the database is the one plaintext connection.
    assert!(plain <= 1, "{plain} plaintext connections");
    drop(app);

    let mut settings = settings_for(&database);
    settings.database.url = tls_url(&stranger_file);
    let connected = App::connect(&settings).await;
    let refused = match connected {
        Err(_) => true,
        Ok(app) => {
            let served = serve_unready(app, database.clone()).await;
            let answer = served.customers.clone().get_customer_profile(get(3)).await;
            answer.map_or(true, |r| {
                r.into_inner()
                    .sources
                    .iter()
                    .all(|s| s.status() != SourceStatus::Ok)
            })
        }
    };
    assert!(
        refused,
        "a server certificate from another CA is not trusted"
    );
}

/// Redis behind TLS only (`rediss://`, its CA in `redis.ca_file`): a second replica is served
/// what the first cached, sealed, through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_spoken_to_over_tls_with_a_rediss_url() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("c360 cache CA");
    let (cert, key) = ca.issue("redis").write(dir.path(), "redis");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).expect("write the CA");
    let redis = TestRedis::start_tls(&cert, &key).await;
    assert!(redis.url().starts_with("rediss://"));
    let apps = spawn_replicas(&redis.url(), 2, |s| {
        s.redis.ca_file = Some(ca_file.clone());
        // The test's Redis is on loopback but slower to handshake than a plain one.
        s.redis.timeout = Duration::from_millis(500);
    })
    .await;
    assert_eq!(apps[0].served_from(14).await.0, CacheTier::Sources);
    // The fill is written in the background.
    let shared = eventually(Duration::from_secs(5), || async {
        apps[1]
            .profiles
            .l2()
            .expect("L2")
            .get(
                CustomerId::new(14).expect("an id"),
                apps[1].profiles_catalog(),
            )
            .await
            .is_some()
    })
    .await;
    assert!(shared.is_some(), "the first replica filled L2 over TLS");
    assert_eq!(apps[1].served_from(14).await.0, CacheTier::L2);
}

/// The CLI speaks TLS to an `https://` address, trusting the CA in `C360_CA_CERT` and
/// presenting `C360_CLIENT_CERT`/`C360_CLIENT_KEY`; without the CA it says why it failed, and
/// to a plaintext address it says the server speaks TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_speaks_tls_to_an_https_address() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server_ca, client_ca) = (TestCa::new("c360 servers"), TestCa::new("c360 callers"));
    let tls = settings(dir.path(), &server_ca.issue("c360"), Some(&client_ca));
    let c360 = TlsServer::start(tls).await;
    let (ca_file, (cert, key)) = (
        dir.path().join("server-ca.crt"),
        client_ca.issue("cli").write(dir.path(), "cli"),
    );
    std::fs::write(&ca_file, server_ca.pem()).expect("write the CA");
    let addr = format!("https://localhost:{}", c360.addr.port());
    // Run beside the server's runtime, not on it.
    let cli_at = |addr: &str, env: &[(&str, &Path)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_c360"));
        command.args(["get", "3", "--sections", "identity", "--addr", addr]);
        for var in [
            "C360_CA_CERT",
            "C360_CLIENT_CERT",
            "C360_CLIENT_KEY",
            "C360_TOKEN",
        ] {
            command.env_remove(var);
        }
        command.envs(env.iter().map(|(k, v)| (k, v.as_os_str())));
        tokio::task::spawn_blocking(move || command.output())
    };
    let cli = |env: &[(&str, &Path)]| cli_at(&addr, env);
    let served = cli(&[
        ("C360_CA_CERT", &ca_file),
        ("C360_CLIENT_CERT", &cert),
        ("C360_CLIENT_KEY", &key),
    ])
    .await
    .expect("joined")
    .expect("run c360");
    assert!(served.status.success(), "{served:?}");
    assert!(!served.stdout.is_empty());

    let untrusted = cli(&[("C360_CLIENT_CERT", &cert), ("C360_CLIENT_KEY", &key)])
        .await
        .expect("joined")
        .expect("run c360");
    assert!(!untrusted.status.success());
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(said.contains("certificate"), "{said}");

    for plaintext in [
        format!("localhost:{}", c360.addr.port()),
        format!("http://localhost:{}", c360.addr.port()),
    ] {
        let mismatch = cli_at(&plaintext, &[("C360_CA_CERT", &ca_file)])
            .await
            .expect("joined")
            .expect("run c360");
        assert!(!mismatch.status.success());
        let said = String::from_utf8_lossy(&mismatch.stderr);
        assert!(said.contains("use https://"), "{said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
    c360.stop().await;
}
