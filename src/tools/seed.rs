//! `c360 seed`: a realistic, deterministic data set of any size in the reference schema.
//! Customers with Zipf-skewed activity; orders over a catalog whose categories have different
//! return windows; shipments some of which are late; invoices some of which failed;
//! interactions across channels. The same seed and reference time give the same rows.

mod generate;
mod products;
mod write;

use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use futures::{StreamExt, stream};

use crate::{
    core::db::{Db, DbError},
    core::vocab::Timestamp,
};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    /// How many customers.
    pub customers: u64,
    /// The random seed.
    pub seed: u64,
    /// The "now" of the data set: orders are placed before it, parcels late against it.
    pub as_of: Timestamp,
    /// Customers written per transaction.
    pub batch_size: u64,
}

impl SeedOptions {
    /// `customers` customers from `seed`, as of the start of today (UTC).
    pub fn new(customers: u64, seed: u64) -> Self {
        Self {
            customers,
            seed,
            as_of: today(),
            batch_size: 1_000,
        }
    }
}

/// The start of the current day, UTC: the default reference time, so that a seed run twice
/// on one day writes the same rows.
pub fn today() -> Timestamp {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::days(1)).unwrap_or(now)
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct SeedReport {
    /// Customers.
    pub customers: u64,
    /// Rows in all tables, catalog included.
    pub rows: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Seeding adds to nothing: the database must be empty.
    #[error("the database already holds {0} customers or products: seed into an empty database")]
    NotEmpty(i64),
    /// The schema could not be applied.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A write failed.
    #[error("writing the data set failed")]
    Write(#[from] sqlx::Error),
}

/// Applies the reference schema to `db` and fills it, calling `progress` with the number of
/// customers written after each batch. Refuses a database that already has data.
pub async fn seed(
    db: &Db,
    options: &SeedOptions,
    progress: impl Fn(u64),
) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    db.migrate().await?;
    let existing: Option<(i64,)> = db
        .fetch_optional(
            "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM products)",
            &[],
        )
        .await?;
    if let Some((n @ 1..,)) = existing {
        return Err(SeedError::NotEmpty(n));
    }
    let products = products::products(options.seed);
    let catalog_tables = products::tables(&products);
    let mut rows: u64 = catalog_tables.iter().map(|t| t.rows.len() as u64).sum();
    write::write(db, catalog_tables).await?;

    let mut generator = generate::Generator::new(options.seed, options.as_of, products);
    let batch_size = options.batch_size.max(1);
    let ranges = (0..options.customers.div_ceil(batch_size)).map(|n| {
        let first = n * batch_size + 1;
        (first, (first + batch_size - 1).min(options.customers))
    });
    // Batches are generated in order (ids run on from one to the next) and written by a few
    // connections at once: the database, not the generator, is the bottleneck.
    let mut writes = stream::iter(ranges)
        .map(|(first, last)| {
            let batch = generator.batch(as_id(first), as_id(last));
            let batch_rows = batch.rows() as u64;
            async move {
                write::write(db, batch.into_tables()).await?;
                Ok::<_, sqlx::Error>((last - first + 1, batch_rows))
            }
        })
        .buffer_unordered(writers(db));
    let mut written = 0;
    while let Some(done) = writes.next().await {
        let (customers, batch_rows) = done?;
        written += customers;
        rows += batch_rows;
        progress(written);
    }
    write::advance_sequences(db).await?;
    Ok(SeedReport {
        customers: options.customers,
        rows,
        elapsed: started.elapsed(),
    })
}

/// Batches written at once: Postgres takes several writers; SQLite has only one.
fn writers(db: &Db) -> usize {
    match db {
        Db::Postgres { .. } => 3,
        Db::Sqlite(_) => 1,
    }
}

fn as_id(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A progress bar for seeding `total` customers; drawn only on a terminal.
pub fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} seeding [{bar:40}] {human_pos}/{human_len} customers, {per_sec}, eta {eta}",
    );
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
