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
