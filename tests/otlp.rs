//! Spans over OTLP, end to end: the real `c360 serve` (a process of its own: the exporter is
//! process-wide) with `trace.otlp_endpoint` pointing at a collector played by this test. A call
//! that carries a W3C `traceparent` must reach the collector as a span of the caller's trace,
//! child of the caller's span, with its request id, once c360 has been asked to stop (spans
//! still buffered are flushed at exit).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_a_traceparent_is_exported_as_a_span_of_the_callers_trace() {
    let c360 = env!("CARGO_BIN_EXE_c360");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("otlp.db").display());
    let seeded = tokio::process::Command::new(c360)
        .args(["seed", "--database-url", &url, "--customers", "20"])
        .output()
        .await
        .unwrap();
    assert!(seeded.status.success(), "{seeded:?}");

    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let collecting = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let mut server = tokio::process::Command::new(c360)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env(
            "C360_TRACE__OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .env("C360_LOG__FORMAT", "json")
        .env("C360_SERVER__DRAIN", "0s")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Its address, from its "serving" log line.
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let addr: SocketAddr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "c360 serving" {
                return entry["fields"]["addr"].as_str().unwrap().parse().unwrap();
            }
        }
        panic!("c360 exited before serving");
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

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::customer_service_client::CustomerServiceClient::new(channel);
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
    let pid = server.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("c360 stopped within 30 s")
        .unwrap();
    let log = log.await.unwrap();
    assert!(status.success(), "{status:?}: {log:#?}");

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
