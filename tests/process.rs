//! What the real `c360 serve` process writes and sends (a process of its own: logging and the
//! span exporter are process-wide): spans over OTLP to a collector played by this test, a
//! call with a W3C `traceparent` arriving as a span of the caller's trace, child of the
//! caller's span, with its request id, once c360 has been asked to stop (spans still
//! buffered are flushed at exit); one access log line per call, in JSON, and every log line of
//! a call carrying its request id; a failing backend's warnings held to one a second.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use c360_proto as pb;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::Span,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_stream::wrappers::TcpListenerStream;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// The collector: keeps every span it is sent.
#[derive(Default, Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(text) => Some(text.clone()),
            other => Some(format!("{other:?}")),
        })
}

/// A seeded SQLite database in `dir`, by `c360 seed`.
async fn seeded(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("process.db").display());
    let seeded = tokio::process::Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["seed", "--database-url", &url, "--customers", "20"])
        .output()
        .await
        .unwrap();
    assert!(seeded.status.success(), "{seeded:?}");
    url
}

/// `c360 serve` over `url` on an ephemeral port with JSON logs and `env`; its address, and
/// its log lines as they come.
struct Served {
    process: tokio::process::Child,
    addr: SocketAddr,
    /// Its log up to the "serving" line.
    before: Vec<String>,
    log: tokio::task::JoinHandle<Vec<String>>,
}

async fn serve(url: &str, env: &[(&str, String)]) -> Served {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_c360"));
    // None of the test run's C360_ variables gets in (C360_<TABLE>__<KEY> is configuration).
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("C360_")) {
        command.env_remove(name);
    }
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env("C360_LOG__FORMAT", "json")
        .env("C360_SERVER__DRAIN", "0s")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut process = command.spawn().unwrap();
    // Its address, from its "serving" log line.
    let mut lines = BufReader::new(process.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr: SocketAddr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            before.push(line.clone());
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "c360 serving" {
                return entry["fields"]["addr"].as_str().unwrap().parse().unwrap();
            }
        }
        panic!("c360 exited before serving: {before:#?}");
    })
    .await
    .expect("c360 served within 30 s");
    // The rest of its log, drained so that it never blocks on a full pipe.
    let log = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    });
    Served {
        process,
        addr,
        before,
        log,
    }
}

impl Served {
    async fn client(
        &self,
    ) -> pb::customer_service_client::CustomerServiceClient<tonic::transport::Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        pb::customer_service_client::CustomerServiceClient::new(channel)
    }

    /// Sends it SIGTERM (by its pid: only this test's process).
    fn terminate(&self) {
        let pid = self.process.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Stops it with SIGTERM; its log as JSON.
    async fn stop(self) -> Vec<serde_json::Value> {
        self.terminate();
        self.stopped().await
    }

    /// Waits for it to stop after [`Self::terminate`], which it must do cleanly (exit 0);
    /// its log as JSON.
    async fn stopped(mut self) -> Vec<serde_json::Value> {
        let status = tokio::time::timeout(Duration::from_secs(30), self.process.wait())
            .await
            .expect("c360 stopped within 30 s")
            .unwrap();
        let mut log = std::mem::take(&mut self.before);
        log.extend(self.log.await.unwrap());
        assert!(status.success(), "{status:?}: {log:#?}");
        log.iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_a_traceparent_is_exported_as_a_span_of_the_callers_trace() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let collecting = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let served = serve(
        &url,
        &[(
            "C360_TRACE__OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )],
    )
    .await;
    let mut client = served.client().await;
    let mut request = tonic::Request::new(pb::GetCustomerProfileRequest {
        customer_id: "3".into(),
        ..Default::default()
    });
    let metadata = request.metadata_mut();
    metadata.insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    metadata.insert("x-request-id", "otlp-test-1".parse().unwrap());
    client.get_customer_profile(request).await.unwrap();
    drop(client);
    // Asked to stop, it flushes what it buffered.
    let log = served.stop().await;

    let spans = collector.spans.lock().unwrap().clone();
    let rpc = spans
        .iter()
        .find(|span| span.name == "rpc" && hex(&span.trace_id) == TRACE_ID)
        .unwrap_or_else(|| panic!("no rpc span of the trace among {spans:#?}\nlog: {log:#?}"));
    assert_eq!(
        hex(&rpc.parent_span_id),
        PARENT_ID,
        "the caller's span is its parent"
    );
    assert_eq!(
        attribute(rpc, "method").as_deref(),
        Some("GetCustomerProfile")
    );
    assert_eq!(attribute(rpc, "request_id").as_deref(), Some("otlp-test-1"));
    collecting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_gets_one_access_line_and_its_request_id_on_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    // Billing fails, so that a call logs a warning beside its access line; what the other
    // backends answered is kept for a minute.
    let served = serve(
        &url,
        &[
            (
                "C360_SOURCES__BILLING__FAULTS__ERROR_RATE",
                "1.0".to_owned(),
            ),
            ("C360_CACHE__PARTIAL_TTL", "1m".to_owned()),
            ("C360_LOG__ACCESS", "true".to_owned()),
            // The attention queue's build reads billing at start, outside any call: its
            // failures would be logged (and counted) beside the calls'.
            ("C360_ATTENTION__ENABLED", "false".to_owned()),
        ],
    )
    .await;
    let mut client = served.client().await;
    for (id, request_id) in [("3", "access-1"), ("3", "access-2"), ("999999", "access-3")] {
        let mut request = tonic::Request::new(pb::GetCustomerProfileRequest {
            customer_id: id.into(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("x-request-id", request_id.parse().unwrap());
        let _ = client.get_customer_profile(request).await;
    }
    drop(client);
    let log = served.stop().await;
    let access: Vec<&serde_json::Value> = log
        .iter()
        .filter(|entry| entry["target"] == "c360::access")
        .filter(|entry| {
            entry["fields"]["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("access-"))
        })
        .collect();
    assert_eq!(access.len(), 3, "one line per call: {access:#?}");
    let fields: Vec<(&str, &str, &str)> = access
        .iter()
        .map(|entry| {
            let f = &entry["fields"];
            (
                f["request_id"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["from"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("access-1", "OK", "sources"),
            ("access-2", "OK", "l1"),
            ("access-3", "NotFound", "-")
        ]
    );
    for entry in &access {
        assert_eq!(
            entry["fields"]["method"],
            "/customer360.v1.CustomerService/GetCustomerProfile"
        );
        assert_eq!(
            entry["fields"]["caller"], "-",
            "no authentication: no caller"
        );
        assert!(entry["fields"]["micros"].as_u64().is_some());
    }
    // Any other line written during a call names the call's request id (its span's): the
    // failed billing read of the first.
    let warning = log
        .iter()
        .find(|entry| entry["fields"]["message"] == "source failed")
        .unwrap_or_else(|| panic!("no warning: {log:#?}"));
    assert_eq!(warning["fields"]["source"], "billing", "{warning}");
    assert_eq!(warning["spans"][0]["name"], "rpc", "{warning}");
    assert_eq!(warning["spans"][0]["request_id"], "access-1", "{warning}");
    assert_eq!(
        warning["spans"][0]["method"], "GetCustomerProfile",
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_is_logged_once_a_second_not_once_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let served = serve(
        &url,
        &[
            (
                "C360_SOURCES__BILLING__FAULTS__ERROR_RATE",
                "1.0".to_owned(),
            ),
            // No breaker: every read reaches the failing backend.
            ("C360_RESILIENCE__BREAKER_FAILURES", "0".to_owned()),
            // Only the calls' reads: the attention queue's build at start reads billing too.
            ("C360_ATTENTION__ENABLED", "false".to_owned()),
        ],
    )
    .await;
    let mut client = served.client().await;
    let started = std::time::Instant::now();
    for id in 1..=20 {
        let answer = client
            .get_customer_profile(pb::GetCustomerProfileRequest {
                customer_id: id.to_string(),
                ..Default::default()
            })
            .await;
        assert!(answer.is_ok(), "partial, not failed: {answer:?}");
    }
    let seconds = started.elapsed().as_secs();
    drop(client);
    let log = served.stop().await;
    let warnings: Vec<&serde_json::Value> = log
        .iter()
        .filter(|entry| entry["level"] == "WARN" && entry["fields"]["message"] == "source failed")
        .collect();
    assert!(
        !warnings.is_empty() && warnings.len() as u64 <= seconds + 1,
        "20 failed reads in {seconds} s: {warnings:#?}"
    );
    // A later line counts what the gate held back; in all, every failure is accounted for.
    let held_back: u64 = warnings
        .iter()
        .map(|w| w["fields"]["suppressed"].as_u64().unwrap())
        .sum();
    assert!(held_back + warnings.len() as u64 <= 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_calls_write_no_access_lines() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let served = serve(&url, &[]).await;
    let mut client = served.client().await;
    for _ in 0..3 {
        client
            .get_customer_profile(pb::GetCustomerProfileRequest {
                customer_id: "3".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    drop(client);
    let log = served.stop().await;
    assert!(
        log.iter().all(|entry| entry["target"] != "c360::access"),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|entry| entry["fields"]["message"] == "ready: health SERVING"),
        "the rest of the log is still written: {log:#?}"
    );
}

/// A database or a Redis that does not answer at start is named in an error line, and the
/// replica still starts (and degrades) rather than refusing to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_or_redis_at_start_is_logged_clearly() {
    let nothing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nothing.local_addr().unwrap();
    drop(nothing);
    let served = serve(
        &format!("postgres://postgres@{closed}/c360"),
        &[
            ("C360_REDIS__URL", format!("redis://{closed}")),
            (
                "C360_REDIS__ENCRYPTION_KEYS",
                r#"["test:KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="]"#.into(),
            ),
        ],
    )
    .await;
    // Long enough for the catalog's and the feed's pools to give up (their acquire timeout).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = served.stop().await;
    let errors: Vec<&serde_json::Value> = log
        .iter()
        .filter(|entry| entry["level"] == "ERROR")
        .collect();
    // Each says why: the refused port, never "pool timed out", and no cause said twice.
    let database_lines: Vec<&str> = log
        .iter()
        .filter(|entry| {
            entry["fields"]["message"].as_str().is_some_and(|m| {
                m.starts_with("backend unreachable")
                    || m.starts_with("catalog unavailable")
                    || m.starts_with("change feed")
            })
        })
        .filter_map(|entry| entry["fields"]["error"].as_str())
        .collect();
    assert!(database_lines.len() >= 3, "{log:#?}");
    for error in &database_lines {
        assert!(
            error.contains("Connection refused") && !error.contains("pool timed out"),
            "{error}"
        );
        let parts: Vec<&str> = error.split(": ").collect();
        assert!(
            parts.windows(2).all(|pair| pair[0] != pair[1]),
            "a cause said twice: {error}"
        );
    }
    assert!(
        log.iter()
            .any(|entry| entry["fields"]["message"] == "change feed unreadable; retrying"),
        "not blamed on a migration: {log:#?}"
    );
    let backends = errors
        .iter()
        .find(|e| {
            e["fields"]["message"]
                == "backend unreachable at start: its sections are missing until it answers"
        })
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert_eq!(
        backends["fields"]["backends"], "billing, orders, fulfilment, crm",
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Redis unreachable at start"))),
        "{log:#?}"
    );
}

/// A SQLite file that does not exist is a mistake in the URL, not an outage: `serve` refuses
/// to start and says how to make one, rather than serving and logging that the feed is
/// unreadable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_that_does_not_exist_stops_the_start_with_the_way_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nosuch.db");
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_c360"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
            .arg(format!("sqlite://{}", missing.display()))
            .env_remove("C360_DATABASE__URL")
            .output(),
    )
    .await
    .expect("it stopped at once")
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nosuch.db does not exist: `c360 seed --database-url sqlite://"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("c360 serving") && !missing.exists(),
        "{stderr}"
    );
}

/// Text log lines written to a pipe (or a file) carry no colour codes: they are read by
/// programs and people's pagers, not a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_on_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_c360"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("C360_")) {
        command.env_remove(name);
    }
    let mut process = command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env("C360_SERVER__DRAIN", "0s")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(process.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let serving = line.contains("c360 serving");
            log.push(line);
            if serving {
                return;
            }
        }
        panic!("c360 exited before serving: {log:#?}");
    })
    .await
    .expect("c360 served within 30 s");
    let pid = process.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    while let Ok(Some(line)) = lines.next_line().await {
        log.push(line);
    }
    assert!(process.wait().await.unwrap().success(), "{log:#?}");
    assert!(log.len() >= 2, "{log:#?}");
    let coloured: Vec<&String> = log.iter().filter(|line| line.contains('\x1b')).collect();
    assert!(coloured.is_empty(), "colour codes on a pipe: {coloured:#?}");
}

#[test]
fn version_names_the_git_revision_it_was_built_from() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_c360"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        text.trim(),
        format!("c360 {} (git {revision})", env!("CARGO_PKG_VERSION"))
    );
}

/// What `/metrics` at `addr` says now (plain HTTP/1.1, as Prometheus scrapes).
async fn scrape(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: c360\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

/// `c360 health --addr addr args…`: its exit code (grpc_health_probe's).
async fn health(addr: SocketAddr, args: &[&str]) -> i32 {
    let probed = tokio::process::Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["health", "--timeout", "5s", "--addr", &addr.to_string()])
        .args(args)
        .env_remove("C360_ADDR")
        .output()
        .await
        .unwrap();
    probed.status.code().expect("exited")
}

/// The value of `c360_ready` in a scrape.
fn ready_gauge(scrape: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix("c360_ready "))
        .and_then(|value| value.trim().parse().ok())
}

/// Kubernetes' service links for a Service named `c360` (and the cluster's own) are not
/// configuration; and a rolling restart with a load balancer's health watch open ends that
/// watch (`NOT_SERVING`, then `UNAVAILABLE`), says not ready during the drain, and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_health_watches_and_exits_cleanly_beside_kubernetes_variables() {
    // `c360 health` answers as grpc_health_probe does at each stage.
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let platform = [
        ("C360_PORT", "tcp://10.96.0.12:50051"),
        ("C360_PORT_50051_TCP", "tcp://10.96.0.12:50051"),
        ("C360_PORT_50051_TCP_ADDR", "10.96.0.12"),
        ("C360_PORT_50051_TCP_PORT", "50051"),
        ("C360_PORT_50051_TCP_PROTO", "tcp"),
        ("C360_SERVICE_HOST", "10.96.0.12"),
        ("C360_SERVICE_PORT", "50051"),
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
        ("C360_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
    ];
    let mut env: Vec<(&str, String)> = platform.iter().map(|(k, v)| (*k, (*v).into())).collect();
    env.extend([
        ("C360_SERVER__DRAIN", "1500ms".into()),
        ("C360_SERVER__SHUTDOWN_GRACE", "4s".into()),
        ("C360_METRICS__LISTEN", "127.0.0.1:0".into()),
    ]);
    let served = serve(&url, &env).await;
    let serving = served
        .before
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["fields"]["message"] == "c360 serving")
        .unwrap();
    let metrics = serving["fields"]["metrics"].as_str().unwrap().to_owned();
    assert!(metrics.parse::<SocketAddr>().is_ok(), "{serving}");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut statuses = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: "customer360.v1.CustomerService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    // Ready first (the feed followed), as the metrics say.
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let status = statuses.message().await.unwrap().unwrap().status;
            if status == ServingStatus::Serving as i32 {
                return;
            }
        }
    })
    .await;
    assert!(ready.is_ok(), "health SERVING within 20 s");
    let open = scrape(&metrics).await;
    assert_eq!(ready_gauge(&open), Some(1.0), "{open}");
    let service = ["--service", "customer360.v1.CustomerService"];
    assert_eq!(health(served.addr, &service).await, 0, "SERVING");
    assert_eq!(
        health(served.addr, &["--service", "nosuch"]).await,
        3,
        "not registered"
    );
    let nothing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nothing.local_addr().unwrap();
    drop(nothing);
    assert_eq!(health(closed, &[]).await, 2, "nothing listening");
    // A lookup that finds nobody exits 1, as grep does.
    let lookup = |email: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_c360"))
            .args([
                "lookup",
                "--email",
                email,
                "--addr",
                &served.addr.to_string(),
            ])
            .env_remove("C360_ADDR")
            .output()
            .unwrap()
    };
    let nobody = lookup("nobody@example.invalid");
    assert_eq!(nobody.status.code(), Some(1), "{nobody:?}");
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no customer matches"));
    // -v shows the metadata both ways, the credential's value never; the error line ends with
    // the request id the server sent back.
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["get", "424242", "-v", "--addr", &served.addr.to_string()])
        .env_remove("C360_ADDR")
        .env("C360_TOKEN", "not-a-secret-but-never-shown")
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(1), "{shown:?}");
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(
        stderr.contains("Request metadata to send:\nauthorization: Bearer (hidden")
            && !stderr.contains("never-shown"),
        "{stderr}"
    );
    let sent_back = stderr
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        stderr.contains("Response status: NOT_FOUND (5)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: NOT_FOUND: customer 424242 does not exist (request id {sent_back})"
        )),
        "{stderr}"
    );

    // A profile watch open across the shutdown: `c360 watch` ends with the error line, and
    // the request id its stream began with (the headers), though the error came in trailers.
    let mut watching = tokio::process::Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["watch", "3", "--addr", &served.addr.to_string()])
        .env_remove("C360_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut shown = BufReader::new(watching.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), shown.next_line()).await;
    assert!(
        matches!(first, Ok(Ok(Some(_)))),
        "the watch showed the profile"
    );
    let drained = tokio::spawn(async move { while let Ok(Some(_)) = shown.next_line().await {} });

    served.terminate();
    let not_serving = statuses.message().await.unwrap().unwrap().status;
    assert_eq!(not_serving, ServingStatus::NotServing as i32);
    // Draining: new calls still served, but not ready.
    let draining = scrape(&metrics).await;
    assert_eq!(ready_gauge(&draining), Some(0.0), "{draining}");
    assert_eq!(health(served.addr, &service).await, 4, "NOT_SERVING");
    let ended = tokio::time::timeout(Duration::from_secs(10), statuses.message())
        .await
        .expect("the watch ended after the drain");
    let code = ended.expect_err("the watch ends UNAVAILABLE").code();
    assert_eq!(code, tonic::Code::Unavailable);
    let watched = tokio::time::timeout(Duration::from_secs(20), watching.wait_with_output())
        .await
        .expect("c360 watch ended with the server")
        .unwrap();
    drained.await.unwrap();
    let stderr = String::from_utf8_lossy(&watched.stderr);
    assert_eq!(watched.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: UNAVAILABLE: ") && stderr.trim_end().ends_with(')'),
        "{stderr}"
    );
    assert!(stderr.contains(" (request id "), "{stderr}");
    let log = served.stopped().await;
    let said = |message: &str| {
        log.iter()
            .find(|entry| entry["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("{message:?} in {log:#?}"))
    };
    let starting = said("c360 starting");
    assert_eq!(starting["fields"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(starting["fields"]["auth"], "off");
    assert_eq!(starting["fields"]["cache"], "256 MiB");
    said("c360 stopped: every call finished");
    assert!(
        !log.iter().any(|entry| entry["level"] == "WARN"
            && entry["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("still in flight"))),
        "{log:#?}"
    );
}
