//! What an SRE sees from outside: `/metrics` after a known sequence of calls, with exact
//! counts; request ids in and out; the endpoint's own answers.

use std::time::Duration;

use c360::core::vocab::SourceKind;
use c360_proto as pb;
use tonic::{Code, Request};

use crate::helpers::{Backend, TestApp, eventually, get, spawn_app, spawn_app_with};

const GET: &str = "GetCustomerProfile";
const SERVICE: &str = "customer360.v1.CustomerService";

fn method(name: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("grpc_type", "unary"),
        ("grpc_service", SERVICE),
        ("grpc_method", name),
    ]
}

fn handled(name: &'static str, code: &'static str) -> [(&'static str, &'static str); 4] {
    let [a, b, c] = method(name);
    [a, b, c, ("grpc_code", code)]
}

async fn code_of(app: &TestApp, id: &str) -> Code {
    let mut client = app.customers.clone();
    match client.get_customer_profile(get(id)).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

async fn a_scrape_after_known_calls_counts_them_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.scrape().await;
    assert_eq!(before.get("grpc_server_started_total", &method(GET)), 0.0);

    // A miss, a hit, a customer nobody has, an id that is not one, and a lookup by order.
    assert_eq!(code_of(&app, "3").await, Code::Ok);
    assert_eq!(code_of(&app, "3").await, Code::Ok);
    assert_eq!(code_of(&app, "999999999").await, Code::NotFound);
    assert_eq!(code_of(&app, "not-an-id").await, Code::InvalidArgument);
    let mut client = app.customers.clone();
    let lookup = client
        .lookup_customers(pb::LookupCustomersRequest {
            key: Some(pb::lookup_customers_request::Key::Email(
                "nobody@nowhere.invalid".into(),
            )),
        })
        .await;
    assert!(lookup.is_ok(), "{lookup:?}");

    let after = app.scrape().await;
    assert_eq!(after.get("grpc_server_started_total", &method(GET)), 4.0);
    assert_eq!(
        after.get("grpc_server_handled_total", &handled(GET, "OK")),
        2.0
    );
    assert_eq!(
        after.get("grpc_server_handled_total", &handled(GET, "NotFound")),
        1.0
    );
    assert_eq!(
        after.get(
            "grpc_server_handled_total",
            &handled(GET, "InvalidArgument")
        ),
        1.0
    );
    assert_eq!(
        after.value("grpc_server_handled_total", &handled(GET, "Internal")),
        None,
        "codes never seen are not exported"
    );
    assert_eq!(
        after.get(
            "grpc_server_handled_total",
            &handled("LookupCustomers", "OK")
        ),
        1.0
    );
    assert_eq!(
        after.get("grpc_server_handling_seconds_count", &method(GET)),
        4.0
    );
    let mut le_inf = method(GET).to_vec();
    le_inf.push(("le", "+Inf"));
    assert_eq!(
        after.get("grpc_server_handling_seconds_bucket", &le_inf),
        4.0
    );
    let mut le_5s = method(GET).to_vec();
    le_5s.push(("le", "5"));
    assert_eq!(
        after.get("grpc_server_handling_seconds_bucket", &le_5s),
        4.0
    );
    // Other methods: nothing.
    assert_eq!(
        after.get(
            "grpc_server_started_total",
            &method("BatchGetCustomerProfiles")
        ),
        0.0
    );

    // The caches: customer 3 missed then hit; the unknown one missed (and is remembered as
    // unknown, apart from the entries); the invalid id never reached them.
    assert_eq!(after.get("c360_cache_l1_hits_total", &[]), 1.0);
    assert_eq!(after.get("c360_cache_l1_misses_total", &[]), 2.0);
    assert_eq!(after.get("c360_cache_loads_total", &[]), 2.0);
    assert_eq!(after.get("c360_cache_entries", &[]), 1.0);
    assert_eq!(after.get("c360_cache_l2_enabled", &[]), 0.0);
    assert_eq!(after.get("c360_ready", &[]), 1.0);
    assert_eq!(after.get("c360_watch_streams", &[]), 0.0);
    // The sources: what the fan-out counted, by backend, all closed.
    for kind in SourceKind::ALL {
        let source = [("source", kind.as_str())];
        assert_eq!(
            after.get("c360_source_reads_total", &source),
            app.reads(kind) as f64,
            "{kind}"
        );
        assert!(app.reads(kind) >= 2, "two loads reached {kind}");
        let closed = [("source", kind.as_str()), ("state", "closed")];
        assert_eq!(after.get("c360_source_circuit_state", &closed), 1.0);
        let mut le_inf = source.to_vec();
        le_inf.push(("le", "+Inf"));
        assert_eq!(
            after.get("c360_source_read_seconds_bucket", &le_inf),
            app.reads(kind) as f64
        );
        // At rest: nothing under way, nothing waiting, the pool open.
        assert_eq!(after.get("c360_source_reads_in_flight", &source), 0.0);
        assert_eq!(after.get("c360_source_pool_waiting", &source), 0.0);
        assert!(after.get("c360_source_pool_max_connections", &source) >= 1.0);
        // A connection goes back to its pool in a task of sqlx's own, moments after the read:
        // scraped again until it is there (or 5 s have passed).
        let idle = [("source", kind.as_str()), ("state", "idle")];
        let mut idle_now = after.get("c360_source_pool_connections", &idle);
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while idle_now < 1.0 && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
            idle_now = app
                .scrape()
                .await
                .get("c360_source_pool_connections", &idle);
        }
        assert!(idle_now >= 1.0, "{kind}");
        for reason in ["timeout", "unavailable", "circuit_open"] {
            let labels = [("source", kind.as_str()), ("reason", reason)];
            assert_eq!(after.get("c360_source_errors_total", &labels), 0.0);
        }
    }
    // The feed follows, and has seen everything committed within moments.
    let staleness = after
        .0
        .lines()
        .find(|line| line.starts_with("c360_feed_staleness_seconds{"))
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse::<f64>().ok())
        .expect("a feed's staleness");
    assert!(staleness < 60.0, "{staleness}");
    // Feeds are named by one word; which backends each stands for is a series apiece.
    let feed_lines: Vec<&str> = after
        .0
        .lines()
        .filter(|line| line.starts_with("c360_feed_"))
        .collect();
    assert!(
        feed_lines.iter().all(|line| !line.contains(", ")),
        "no label holds a list: {feed_lines:?}"
    );
    for source in ["billing", "orders", "fulfilment", "crm", "catalog"] {
        let labels = [("feed", "billing"), ("source", source)];
        assert_eq!(after.get("c360_feed_info", &labels), 1.0, "{feed_lines:?}");
    }
    let build = after
        .0
        .lines()
        .find(|line| line.starts_with("c360_build_info{"))
        .expect("build info");
    assert!(build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
    // The process's own figures, by the names every client library gives them.
    let value = |name: &str| {
        after
            .0
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in the scrape"))
    };
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_start_time_seconds") > 1.7e9);
}

crate::over_both_backends!(a_scrape_after_known_calls_counts_them_exactly);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_returned_kept_when_sane_and_made_when_not() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut client = app.customers.clone();
    let mut request = Request::new(get(3));
    request
        .metadata_mut()
        .insert("x-request-id", "desk-7.call-42".parse().unwrap());
    let answer = client.get_customer_profile(request).await.unwrap();
    assert_eq!(
        answer.metadata().get("x-request-id").unwrap(),
        "desk-7.call-42"
    );

    let answer = client.get_customer_profile(get(3)).await.unwrap();
    let made = answer
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(made.len(), 32);

    let mut request = Request::new(get("not-an-id"));
    request
        .metadata_mut()
        .insert("x-request-id", "has spaces in it".parse().unwrap());
    let error = client.get_customer_profile(request).await.unwrap_err();
    let replaced = error
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_ne!(replaced, "has spaces in it");
    assert_eq!(replaced.len(), 32, "errors carry the id too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_answers_only_get_metrics() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, _) = app.scrape_with("/", &[]).await;
    assert_eq!(status, 404);
    let (status, body) = app.scrape_with("/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE grpc_server_handled_total counter"));
    assert!(body.contains("# TYPE grpc_server_handling_seconds histogram"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metrics_disabled_no_grpc_series_are_kept_and_calls_still_work() {
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.metrics.enabled = false;
    })
    .await;
    assert_eq!(code_of(&app, "3").await, Code::Ok);
    let scrape = app.scrape().await;
    assert!(!scrape.0.contains("grpc_server_started_total"));
    assert_eq!(scrape.get("c360_cache_loads_total", &[]), 1.0);
}

/// The metric names an expression uses: c360's own (`c360_…`), the gRPC server's
/// (`grpc_server_…`), the process's (`process_…`) and recorded series (`c360:…`).
fn metric_names(expr: &str) -> Vec<&str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| {
            token.starts_with("c360_")
                || token.starts_with("c360:")
                || token.starts_with("grpc_server_")
                || token.starts_with("process_")
        })
        .collect()
}

/// Every string under a key named `key`, anywhere in `value`.
fn strings_under<'a>(value: &'a serde_json::Value, key: &str, found: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::Object(map) => {
            for (name, inner) in map {
                match inner {
                    serde_json::Value::String(text) if name == key => found.push(text),
                    _ => strings_under(inner, key, found),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                strings_under(item, key, found);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_rules_name_only_metrics_c360_exports() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let rules = std::fs::read_to_string(deploy.join("c360.rules.yml")).unwrap();
    let recorded: Vec<&str> = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record: "))
        .collect();
    assert!(recorded.len() >= 14, "{recorded:?}");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy.join("c360.dashboard.json")).unwrap())
            .expect("the dashboard is JSON");

    // A replica that has served a call of every kind the names need, its attention queue
    // read once.
    let app = spawn_app_with(Backend::Sqlite, |s| s.attention.enabled = true).await;
    let queue_read = eventually(std::time::Duration::from_secs(10), || async {
        app.scrape()
            .await
            .value("c360_attention_unclaimed_items", &[])
            .is_some()
    })
    .await;
    assert!(
        queue_read.is_some(),
        "the attention queue's figures never came"
    );
    assert_eq!(code_of(&app, "3").await, Code::Ok);
    assert_eq!(code_of(&app, "x").await, Code::InvalidArgument);
    let scrape = app.scrape().await;
    let exported = |name: &str| {
        scrape.0.lines().any(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
    };

    let mut queries = Vec::new();
    strings_under(&dashboard, "expr", &mut queries);
    strings_under(&dashboard, "definition", &mut queries);
    assert!(queries.len() >= 40, "{} queries", queries.len());
    let rule_exprs: Vec<&str> = rules
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect();
    for expr in queries.iter().copied().chain(rule_exprs) {
        for name in metric_names(expr) {
            if name.contains(':') {
                assert!(
                    recorded.contains(&name),
                    "{name} is recorded by no rule ({expr})"
                );
            } else {
                assert!(exported(name), "c360 does not export {name} ({expr})");
            }
        }
    }
    for query in queries {
        assert!(
            !metric_names(query).is_empty(),
            "a query naming no c360 metric: {query}"
        );
    }
}

/// What a dashboard query plots: a percentile, a ratio, a rate per second, or a level (a
/// gauge, or a count over a window).
fn kind_of(expr: &str) -> &'static str {
    if expr.contains("histogram_quantile(") {
        "percentile"
    } else if expr.contains(" / ") {
        "ratio"
    } else if expr.contains("rate(") {
        "per second"
    } else {
        "level"
    }
}

#[test]
fn each_dashboard_panel_plots_one_kind_of_figure_in_its_unit() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/prometheus/c360.dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let mut plotted = 0;
    for panel in panels.iter().filter(|p| p["type"] == "timeseries") {
        let title = panel["title"].as_str().unwrap();
        let unit = panel["fieldConfig"]["defaults"]["unit"].as_str().unwrap();
        let mut exprs = Vec::new();
        strings_under(&panel["targets"], "expr", &mut exprs);
        let kinds: std::collections::BTreeSet<&str> = exprs.iter().map(|e| kind_of(e)).collect();
        assert_eq!(kinds.len(), 1, "{title} mixes {kinds:?}");
        let expected: &[&str] = match kinds.first().copied().unwrap() {
            "percentile" => &["s"],
            "ratio" => &["none", "percentunit"],
            // CPU seconds per second read as a share of one core.
            "per second" => &["reqps", "ops", "percentunit"],
            _ => &["short", "s", "bytes"],
        };
        assert!(expected.contains(&unit), "{title}: {unit} for {kinds:?}");
        let bytes = exprs.iter().filter(|e| e.contains("_bytes")).count();
        assert!(
            bytes == 0 || (bytes == exprs.len() && unit == "bytes"),
            "{title}: bytes share an axis with counts"
        );
        assert_eq!(unit == "bytes", bytes > 0, "{title}");
        for expr in exprs
            .iter()
            .filter(|e| e.contains("grpc_server_handling_seconds"))
        {
            assert!(
                expr.contains("grpc_type=\"unary\""),
                "{title}: a Watch's duration is its caller's, not a latency: {expr}"
            );
        }
        plotted += 1;
    }
    assert!(plotted >= 29, "{plotted} panels");
    // Laid out without overlaps: no two panels share a cell of the grid.
    let mut cells = std::collections::HashSet::new();
    for panel in panels {
        let at = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| at[k].as_u64().unwrap());
        for cell in (x..x + w).flat_map(|x| (y..y + h).map(move |y| (x, y))) {
            assert!(
                cells.insert(cell),
                "{} overlaps at {cell:?}",
                panel["title"]
            );
        }
    }
}

/// Sends bytes as they are: what a client with another idea of the message sends.
#[derive(Default)]
struct RawCodec;

struct RawEncoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<()>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

/// Bytes that are not a valid request (invalid UTF-8 in a string, a truncated varint) are
/// the caller's error, `INVALID_ARGUMENT`, and counted so (issue 24, item 5): never the
/// `INTERNAL` that the availability SLO counts against the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_request_is_the_callers_invalid_argument() {
    let app = spawn_app(Backend::Sqlite).await;
    let send = |message: Vec<u8>| {
        let channel = app.channel.clone();
        async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.unwrap();
            let path = http::uri::PathAndQuery::from_static(
                "/customer360.v1.CustomerService/GetCustomerProfile",
            );
            grpc.unary(Request::new(message), path, RawCodec).await
        }
    };
    // Field 1 (`customer_id`, a string) carrying bytes that are not UTF-8; field 4 (a bool,
    // a varint) cut off in the middle.
    for bytes in [vec![0x0a, 0x03, 0xff, 0xfe, 0x33], vec![0x20, 0xff]] {
        let status = send(bytes).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("not a valid"), "{status:?}");
    }
    let scraped = app.scrape().await;
    let invalid = handled(GET, "InvalidArgument");
    assert_eq!(scraped.get("grpc_server_handled_total", &invalid), 2.0);
    assert_eq!(
        scraped.value("grpc_server_handled_total", &handled(GET, "Internal")),
        None
    );
}
