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
