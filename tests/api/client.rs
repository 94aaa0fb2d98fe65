//! The `get` and `lookup` commands against a real server.

use c360::tools::client::{self, ClientError, Format, LookupBy, Server};

use crate::helpers::{Backend, spawn_app};

async fn get_prints_a_profile_for_people_and_json_for_programs(backend: Backend) {
    let app = spawn_app(backend).await;
    let addr = Server::parse(&format!("http://{}", app.addr)).unwrap();
    let id = app.busy_customer().await;
    let first_name = app
        .text(
            "SELECT first_name FROM customers WHERE id = $1",
            &[c360::core::db::Bind::Int(id)],
        )
        .await;

    let text = client::get(&addr, &id.to_string(), &[], Format::Text)
        .await
        .unwrap();
    assert!(text.starts_with(&first_name), "{text}");
    for heading in ["Billing", "Orders", "Shipments", "Insights", "Sources"] {
        assert!(text.contains(heading), "{heading} in {text}");
    }

    let sections = ["billing".to_owned()];
    let json = client::get(&addr, &id.to_string(), &sections, Format::Json)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["customerId"], id.to_string());
    assert!(value["billing"]["balance"]["currencyCode"].is_string());
    assert!(value.get("orders").is_none());
    assert_eq!(value["sources"][1]["status"], "SOURCE_STATUS_SKIPPED");

    // `--sections ''` asks for every section, as no --sections does.
    let every = client::get(&addr, &id.to_string(), &[String::new()], Format::Json)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&every).unwrap();
    assert!(
        value["orders"].is_object() && value["billing"].is_object(),
        "{every}"
    );
}

async fn lookup_and_errors_read_as_one_line(backend: Backend) {
    let app = spawn_app(backend).await;
    // host:port, as grpcurl takes it.
    let addr = Server::parse(&app.addr.to_string()).unwrap();
    let email = app
        .text("SELECT email FROM customers WHERE id = 9", &[])
        .await;
    let found = client::lookup(&addr, LookupBy::Email(email.clone()), Format::Text)
        .await
        .unwrap();
    assert_eq!(found.matches, 1);
    let text = found.text;
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(
        text.starts_with("ID ") && row.starts_with("9 ") && row.contains(&email),
        "{text}"
    );

    let missing = client::get(&addr, "424242", &[], Format::Text)
        .await
        .unwrap_err();
    // The request id the server sent back ends the line: what support searches its logs for.
    let line = missing.to_string();
    let id = line
        .strip_prefix("NOT_FOUND: customer 424242 does not exist (request id ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        id.len() >= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{line}"
    );
    let bad = client::lookup(&addr, LookupBy::Phone("12".into()), Format::Json)
        .await
        .unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("INVALID_ARGUMENT: invalid request: phone:"),
        "{bad}"
    );
    assert!(!bad.to_string().contains('\n'));
}

/// Whatever is at the address, the command says what happened in one line, within its
/// `--timeout`: nothing listening, a peer that never answers, a server that is not gRPC, TLS
/// where there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_says_what_happened() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let get = |addr: String| async move {
        let server = Server::parse(&addr)
            .unwrap()
            .with_timeout(std::time::Duration::from_secs(1));
        let error = client::get(&server, "1", &[], Format::Text)
            .await
            .unwrap_err();
        assert!(!error.to_string().contains('\n'), "{error}");
        error
    };

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    let refused = get(nobody.to_string()).await;
    assert!(matches!(refused, ClientError::Refused { .. }), "{refused}");
    assert!(refused.to_string().contains("is it running"), "{refused}");

    // Accepts, reads, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = silent.accept().await {
            let mut buffer = [0; 1024];
            let _ = socket.read(&mut buffer).await;
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let timed_out = get(silent_addr.to_string()).await;
    assert!(
        matches!(timed_out, ClientError::TimedOut { .. }),
        "{timed_out}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    holder.abort();

    // An HTTP/1 server.
    let http1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http1_addr = http1.local_addr().unwrap();
    let answering = tokio::spawn(async move {
        while let Ok((mut socket, _)) = http1.accept().await {
            let mut buffer = [0; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let not_grpc = get(format!("http://{http1_addr}")).await;
    assert!(
        matches!(not_grpc, ClientError::NotGrpc { .. }),
        "{not_grpc}"
    );
    assert!(not_grpc.to_string().contains("HTTP/1"), "{not_grpc}");

    // TLS to a server that speaks none (this HTTP/1 one, and c360 without TLS).
    let app = spawn_app(Backend::Sqlite).await;
    for plaintext in [http1_addr, app.addr] {
        let mismatch = get(format!("https://{plaintext}")).await;
        assert!(
            mismatch
                .to_string()
                .contains("does not speak TLS: use http://"),
            "{mismatch}"
        );
    }
    answering.abort();

    for bad in ["localhost", "grpc://127.0.0.1:50051", "127.0.0.1:port"] {
        let error = Server::parse(bad).unwrap_err();
        assert!(error.to_string().contains("host:port"), "{error}");
    }
}

crate::over_both_backends!(
    get_prints_a_profile_for_people_and_json_for_programs,
    lookup_and_errors_read_as_one_line,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_latency_per_rpc_and_per_backend_and_top_follows_them() {
    let app = spawn_app(Backend::Sqlite).await;
    let addr = Server::parse(&format!("http://{}", app.addr)).unwrap();
    for id in ["3", "3", "4", "424242"] {
        let _ = client::get(&addr, id, &[], Format::Text).await;
    }
    let text = client::stats(&addr, Format::Text).await.unwrap();
    let row = text
        .lines()
        .find(|line| line.starts_with("CustomerService/GetCustomerProfile"))
        .unwrap_or_else(|| panic!("{text}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &columns[1..4],
        ["4", "0", "1"],
        "4 calls, no fault, 1 NOT_FOUND (the caller's): {text}"
    );
    assert!(columns[4].parse::<f64>().unwrap() > 0.0, "a p50: {text}");
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("c360 {} (", env!("CARGO_PKG_VERSION")))
            && first.contains(" · up ")
            && first.contains(" UTC"),
        "the build, its uptime and start: {text}"
    );
    for backend in ["billing", "orders", "fulfilment", "crm"] {
        let line = text
            .lines()
            .find(|line| line.starts_with("Reads") && line.contains(backend))
            .unwrap_or_else(|| panic!("{backend}: {text}"));
        assert!(line.contains("p99 ") && !line.contains("p99 -"), "{line}");
    }
    let json = client::stats(&addr, Format::Json).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let get = value["rpcs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rpc| rpc["method"] == "/customer360.v1.CustomerService/GetCustomerProfile")
        .unwrap();
    assert_eq!(get["started"], "4");
    assert_eq!(get["handled"]["NotFound"], "1");
    assert_eq!(get["latency"]["counts"].as_array().unwrap().len(), 17);
    assert!(
        get["latency"]["maxSeconds"].as_f64().unwrap() > 0.0,
        "{json}"
    );
    assert_eq!(value["l2"]["errors"], "0", "zero counters are kept: {json}");
    assert_eq!(value["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        value["startedAt"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    assert!(value["uptime"].as_str().unwrap().ends_with('s'), "{json}");

    // `top`: two readings a second apart, calls made right after the first; the second
    // reading shows only them.
    let (shown, mut readings) = tokio::sync::mpsc::unbounded_channel();
    let follow = client::top(&addr, std::time::Duration::from_secs(1), Some(2), |text| {
        let _ = shown.send(text);
    });
    let calls = async {
        let first = readings.recv().await.unwrap();
        for _ in 0..5 {
            client::get(&addr, "3", &[], Format::Text).await.unwrap();
        }
        (first, readings.recv().await.unwrap())
    };
    let (followed, (first, second)) = tokio::join!(follow, calls);
    followed.unwrap();
    let readings = [first, second];
    let row = readings[1]
        .lines()
        .find(|line| line.starts_with("CustomerService/GetCustomerProfile"))
        .unwrap_or_else(|| panic!("{}", readings[1]));
    let rate: f64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        rate > 0.0 && rate <= 5.0,
        "5 calls in a second or more: {row}"
    );
}
