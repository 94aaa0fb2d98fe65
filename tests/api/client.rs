//! The `get` and `lookup` commands against a real server.

use c360::client::{self, ClientError, Format, LookupBy};

use crate::helpers::{Backend, spawn_app};

async fn get_prints_a_profile_for_people_and_json_for_programs(backend: Backend) {
    let app = spawn_app(backend).await;
    let addr = format!("http://{}", app.addr);
    let id = app.busy_customer().await;
    let first_name = app
        .text(
            "SELECT first_name FROM customers WHERE id = $1",
            &[c360::db::Bind::Int(id)],
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
}

async fn lookup_and_errors_read_as_one_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let addr = format!("http://{}", app.addr);
    let email = app
        .text("SELECT email FROM customers WHERE id = 9", &[])
        .await;
    let text = client::lookup(&addr, LookupBy::Email(email.clone()), Format::Text)
        .await
        .unwrap();
    assert!(text.starts_with("9 ") && text.contains(&email), "{text}");

    let missing = client::get(&addr, "424242", &[], Format::Text)
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "NOT_FOUND: customer 424242 does not exist"
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
    let down = client::get("http://127.0.0.1:9", "1", &[], Format::Text)
        .await
        .unwrap_err();
    assert!(matches!(down, ClientError::Connect { .. }), "{down}");
}

crate::over_both_backends!(
    get_prints_a_profile_for_people_and_json_for_programs,
    lookup_and_errors_read_as_one_line,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_latency_per_rpc_and_per_backend_and_top_follows_them() {
    let app = spawn_app(Backend::Sqlite).await;
    let addr = format!("http://{}", app.addr);
    for id in ["3", "3", "4", "424242"] {
        let _ = client::get(&addr, id, &[], Format::Text).await;
    }
    let text = client::stats(&addr, Format::Text).await.unwrap();
    let row = text
        .lines()
        .find(|line| line.starts_with("CustomerService/GetCustomerProfile"))
        .unwrap_or_else(|| panic!("{text}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[1..3], ["4", "1"], "4 calls, 1 NOT_FOUND: {text}");
    assert!(columns[3].parse::<f64>().unwrap() > 0.0, "a p50: {text}");
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
