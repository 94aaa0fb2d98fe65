//! `LookupCustomers`: by email, by phone in any notation, by order id.

use c360_proto::lookup_customers_request::Key;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, TestApp, spawn_app};

/// The ids of the customers `key` finds.
async fn lookup(app: &TestApp, key: Key) -> Result<Vec<String>, tonic::Status> {
    let found = app.lookup(Some(key)).await?;
    Ok(found.customers.into_iter().map(|c| c.customer_id).collect())
}

/// `+442079460018` written as a caller might say it: `0044 20 7946 0018`.
fn spoken(e164: &str) -> String {
    let digits = &e164[1..];
    let (country, rest) = digits.split_at(2);
    let mut out = format!("00{country} ");
    for (i, c) in rest.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

async fn an_email_finds_its_customer_whatever_its_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app
        .text("SELECT email FROM customers WHERE id = 42", &[])
        .await;
    let found = lookup(&app, Key::Email(format!("  {}  ", email.to_uppercase())))
        .await
        .unwrap();
    assert_eq!(found, ["42"]);
    let none = lookup(&app, Key::Email("nobody@example.invalid".into()))
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn a_phone_number_in_any_notation_finds_everyone_who_shares_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (shared, expected) = app.shared_phone().await;
    assert!(expected.len() > 1);
    let bracketed = format!("{} ({}) {}", &shared[..3], &shared[3..6], &shared[6..]);
    for notation in [shared.clone(), spoken(&shared), bracketed] {
        let found = lookup(&app, Key::Phone(notation.clone())).await.unwrap();
        assert_eq!(found, expected, "{notation}");
    }
}

async fn an_order_id_finds_the_customer_who_placed_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (order, customer): (i64, i64) = app
        .db
        .fetch_optional(
            "SELECT id, customer_id FROM orders ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    let found = app
        .lookup(Some(Key::OrderId(order.to_string())))
        .await
        .unwrap();
    assert_eq!(found.customers.len(), 1);
    assert_eq!(found.customers[0].customer_id, customer.to_string());
    assert!(found.customers[0].identity.is_some());
    assert!(
        lookup(&app, Key::OrderId("99999999".into()))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn lookups_refuse_malformed_keys_and_a_missing_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (Some(Key::Phone("020 7946 0018".into())), "phone"),
        (Some(Key::Email("not-an-email".into())), "email"),
        (Some(Key::OrderId("ord-1".into())), "order_id"),
        (None, "key"),
    ];
    for (key, field) in cases {
        let status = app.lookup(key).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        let details = status.get_error_details();
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            field
        );
    }
}

crate::over_both_backends!(
    an_email_finds_its_customer_whatever_its_case,
    a_phone_number_in_any_notation_finds_everyone_who_shares_it,
    an_order_id_finds_the_customer_who_placed_it,
    lookups_refuse_malformed_keys_and_a_missing_one,
);
