//! The generator: deterministic, and with the cases agents meet.

use chrono::TimeZone;

use super::*;
use crate::tools::seed::{
    products::products,
    write::{Table, Value},
};

fn as_of() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

#[test]
fn the_same_seed_gives_the_same_customers_whatever_the_batch_sizes() {
    let mut whole = Generator::new(7, as_of(), products(7));
    let mut halves = Generator::new(7, as_of(), products(7));
    let all = whole.batch(1, 40).into_tables();
    let mut split = halves.batch(1, 20).into_tables();
    for (table, more) in split.iter_mut().zip(halves.batch(21, 40).into_tables()) {
        table.rows.extend(more.rows);
    }
    for (a, b) in all.iter().zip(&split) {
        assert_eq!(a.rows, b.rows, "{}", a.name);
    }
    let other = Generator::new(8, as_of(), products(8))
        .batch(1, 40)
        .into_tables();
    assert_ne!(all[0].rows, other[0].rows);
}

#[test]
fn the_data_set_has_the_cases_agents_meet() {
    let tables = Generator::new(1, as_of(), products(1))
        .batch(1, 2_000)
        .into_tables();
    let column = |table: &Table, name: &str| {
        table
            .columns
            .iter()
            .position(|c| *c == name)
            .expect("column")
    };
    let count = |table: &str, name: &str, value: &str| {
        let table = tables.iter().find(|t| t.name == table).expect("table");
        let i = column(table, name);
        table
            .rows
            .iter()
            .filter(|r| r[i] == Value::from(value))
            .count()
    };
    assert_eq!(tables[0].rows.len(), 2_000);
    assert!(count("invoices", "status", "payment_failed") > 10);
    assert!(
        count("shipments", "status", "exception") + count("shipments", "status", "in_transit") > 10
    );
    assert!(count("orders", "status", "cancelled") > 10);
    assert!(count("interactions", "status", "open") > 10);
    let orders = tables.iter().find(|t| t.name == "orders").expect("orders");
    // Zipf-skewed activity: many customers with one order, a few with dozens.
    assert!(
        orders.rows.len() > 4_000 && orders.rows.len() < 20_000,
        "{}",
        orders.rows.len()
    );
    let phones = &tables[0];
    let i = column(phones, "phone_e164");
    let mut numbers: Vec<_> = phones.rows.iter().map(|r| &r[i]).collect();
    numbers.sort_by_key(|v| format!("{v:?}"));
    numbers.dedup();
    assert!(numbers.len() < 2_000, "some households share a number");
}

#[test]
fn conversations_name_the_customers_own_parcels_in_the_languages_they_write() {
    let tables = Generator::new(3, as_of(), products(3))
        .batch(1, 600)
        .into_tables();
    let table = |name: &str| tables.iter().find(|t| t.name == name).expect("table");
    let (shipments, messages) = (table("shipments"), table("interaction_messages"));
    let at = |table: &Table, name: &str| {
        let i = table
            .columns
            .iter()
            .position(|c| *c == name)
            .expect("column");
        move |row: &Vec<Value>| row[i].clone()
    };
    let (tracking, owner) = (
        at(shipments, "tracking_number"),
        at(shipments, "customer_id"),
    );
    let parcels: std::collections::HashSet<(String, String)> = shipments
        .rows
        .iter()
        .map(|r| (format!("{:?}", owner(r)), format!("{:?}", tracking(r))))
        .collect();
    let (body, customer) = (at(messages, "body"), at(messages, "customer_id"));
    assert!(messages.rows.len() > 600, "{}", messages.rows.len());
    let mut named = 0;
    let (mut devanagari, mut bengali, mut romanised) = (0, 0, 0);
    for row in &messages.rows {
        let Value::Text(text) = body(row) else {
            panic!("a body that is not text")
        };
        // Every tracking number a message names is one of its customer's parcels.
        for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
            let looks_tracked = word.len() == 12
                && word[..2].bytes().all(|b| b.is_ascii_uppercase())
                && word[2..].bytes().all(|b| b.is_ascii_digit());
            if looks_tracked {
                let parcel = (
                    format!("{:?}", customer(row)),
                    format!("{:?}", Value::from(word)),
                );
                assert!(parcels.contains(&parcel), "{text}");
                named += 1;
            }
        }
        devanagari += usize::from(text.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c)));
        bengali += usize::from(text.chars().any(|c| ('\u{0980}'..='\u{09FF}').contains(&c)));
        romanised += usize::from(text.contains("nahi") || text.contains("ekhono"));
    }
    assert!(named > 20, "{named} tracking numbers named");
    assert!(
        devanagari > 50 && bengali > 50 && romanised > 20,
        "{devanagari} {bengali} {romanised}"
    );
}
