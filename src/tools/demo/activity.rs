//! `c360 demo --activity`: keeps the demo's backends busy, as real ones are — orders placed,
//! parcels moving or running late, tickets opened and answered, payments failing — so that a
//! watcher sees a live customer. Every change goes through the backend tables, so the change
//! feed carries it to the caches like any other.

use std::time::Duration;

use chrono::Utc;
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// Changes the data of `customers` every `interval`, until the task is dropped.
pub(super) async fn run(pool: SqlitePool, customers: Vec<i64>, interval: Duration) {
    if customers.is_empty() {
        return;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(rand::random());
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let customer = customers[rng.random_range(0..customers.len())];
        let event = rng.random_range(0..100);
        match change(&pool, customer, event, &mut rng).await {
            Ok(Some(what)) => tracing::info!(customer, "activity: {what}"),
            Ok(None) => {}
            Err(error) => tracing::warn!(customer, %error, "activity failed"),
        }
    }
}

async fn change(
    pool: &SqlitePool,
    customer: i64,
    event: u32,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Option<String>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = match event {
        0..30 => advance_shipment(&mut tx, customer).await?,
        30..50 => place_order(&mut tx, customer, rng).await?,
        50..62 => delay_shipment(&mut tx, customer).await?,
        62..77 => open_ticket(&mut tx, customer, rng).await?,
        77..90 => answer_ticket(&mut tx, customer, rng).await?,
        _ => fail_payment(&mut tx, customer).await?,
    };
    tx.commit().await?;
    Ok(done)
}

type Tx<'a> = Transaction<'a, Sqlite>;

async fn place_order(
    tx: &mut Tx<'_>,
    customer: i64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Option<String>, sqlx::Error> {
    let (sku, price): (String, i64) = sqlx::query_as(
        "SELECT sku, price_minor FROM products WHERE returnable = 1 ORDER BY RANDOM() LIMIT 1",
    )
    .fetch_one(&mut **tx)
    .await?;
    let (currency,): (String,) =
        sqlx::query_as("SELECT currency FROM billing_accounts WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut **tx)
            .await?;
    let quantity: i64 = rng.random_range(1..=2);
    let now = Utc::now();
    let (order,): (i64,) = sqlx::query_as(
        "INSERT INTO orders (customer_id, status, currency, total_minor, placed_at) \
         VALUES ($1, 'placed', $2, $3, $4) RETURNING id",
    )
    .bind(customer)
    .bind(&currency)
    .bind(price * quantity)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor, returned_quantity) \
         VALUES ($1, 1, $2, $3, $4, 0)",
    )
    .bind(order)
    .bind(&sku)
    .bind(quantity)
    .bind(price)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO shipments (order_id, customer_id, carrier, tracking_number, status, promised_at, created_at) \
         VALUES ($1, $2, 'DHL', $3, 'label_created', $4, $5)",
    )
    .bind(order)
    .bind(customer)
    .bind(format!("DH{:010}", rng.random_range(0..10_000_000_000u64)))
    .bind(now + chrono::Duration::days(3))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO invoices (customer_id, order_id, currency, amount_minor, status, issued_at, due_at) \
         VALUES ($1, $2, $3, $4, 'open', $5, $6)",
    )
    .bind(customer)
    .bind(order)
    .bind(&currency)
    .bind(price * quantity)
    .bind(now)
    .bind(now + chrono::Duration::days(14))
    .execute(&mut **tx)
    .await?;
    Ok(Some(format!("order {order} placed: {quantity} × {sku}")))
}

/// The customer's most recent parcel that has not arrived.
async fn open_shipment(
    tx: &mut Tx<'_>,
    customer: i64,
) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, order_id, status FROM shipments WHERE customer_id = $1 AND delivered_at IS NULL \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(customer)
    .fetch_optional(&mut **tx)
    .await
}

async fn advance_shipment(tx: &mut Tx<'_>, customer: i64) -> Result<Option<String>, sqlx::Error> {
    let Some((shipment, order, status)) = open_shipment(tx, customer).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let next = match status.as_str() {
        "label_created" => "in_transit",
        "in_transit" | "exception" => "out_for_delivery",
        _ => "delivered",
    };
    sqlx::query(
        "UPDATE shipments SET status = $1, \
         shipped_at = COALESCE(shipped_at, $2), \
         delivered_at = CASE WHEN $1 = 'delivered' THEN $2 ELSE NULL END WHERE id = $3",
    )
    .bind(next)
    .bind(now)
    .bind(shipment)
    .execute(&mut **tx)
    .await?;
    let order_status = if next == "delivered" {
        "delivered"
    } else {
        "shipped"
    };
    sqlx::query("UPDATE orders SET status = $1 WHERE id = $2 AND status <> 'cancelled'")
        .bind(order_status)
        .bind(order)
        .execute(&mut **tx)
        .await?;
    Ok(Some(format!(
        "shipment {shipment} is now {}",
        next.replace('_', " ")
    )))
}

async fn delay_shipment(tx: &mut Tx<'_>, customer: i64) -> Result<Option<String>, sqlx::Error> {
    let Some((shipment, _, _)) = open_shipment(tx, customer).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE shipments SET status = 'exception', promised_at = $1 WHERE id = $2")
        .bind(Utc::now() - chrono::Duration::days(2))
        .bind(shipment)
        .execute(&mut **tx)
        .await?;
    Ok(Some(format!("shipment {shipment} is held up and late")))
}

const SUBJECTS: &[&str] = &[
    "Where is my parcel?",
    "Charged twice",
    "Item arrived damaged",
    "Change of delivery address",
];

async fn open_ticket(
    tx: &mut Tx<'_>,
    customer: i64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Option<String>, sqlx::Error> {
    let subject = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
    let channel = ["ticket", "chat", "call", "email"][rng.random_range(0..4)];
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO interactions (customer_id, channel, subject, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'open', $4, $4)",
    )
    .bind(customer)
    .bind(channel)
    .bind(subject)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(Some(format!("{channel} opened: {subject}")))
}

async fn answer_ticket(
    tx: &mut Tx<'_>,
    customer: i64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Option<String>, sqlx::Error> {
    let open: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM interactions WHERE customer_id = $1 AND status IN ('open', 'pending') \
         ORDER BY created_at LIMIT 1",
    )
    .bind(customer)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((ticket,)) = open else {
        return Ok(None);
    };
    let csat: i64 = rng.random_range(1..=5);
    sqlx::query(
        "UPDATE interactions SET status = 'resolved', csat = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(csat)
    .bind(Utc::now())
    .bind(ticket)
    .execute(&mut **tx)
    .await?;
    Ok(Some(format!(
        "interaction {ticket} resolved, rated {csat}/5"
    )))
}

async fn fail_payment(tx: &mut Tx<'_>, customer: i64) -> Result<Option<String>, sqlx::Error> {
    let open: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM invoices WHERE customer_id = $1 AND status = 'open' ORDER BY issued_at DESC LIMIT 1",
    )
    .bind(customer)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((invoice,)) = open else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE invoices SET status = 'payment_failed', failure_reason = 'insufficient_funds', failed_at = $1 \
         WHERE id = $2",
    )
    .bind(Utc::now())
    .bind(invoice)
    .execute(&mut **tx)
    .await?;
    Ok(Some(format!("payment for invoice {invoice} failed")))
}
