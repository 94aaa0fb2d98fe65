//! `c360 demo`: the embedded default. Creates and seeds a SQLite database if there is none,
//! serves it, and prints commands to try with real ids, emails and phone numbers; with
//! `--activity`, keeps changing the data of a few customers so that a watcher sees them live.

mod activity;

use std::{future::Future, net::SocketAddr, path::PathBuf};

use chrono::Utc;
use tokio::net::TcpListener;

use crate::{
    app::App,
    app::config::Settings,
    core::db::{Bind, Db, DbError, PoolOptions},
    edge::server::ServeError,
    tools::seed::{self, SeedError, SeedOptions},
};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Customers to seed when the database is new ([`DEFAULT_CUSTOMERS`] if not given); given
    /// for a database that holds another number, the demo refuses to start.
    pub customers: Option<u64>,
    /// Where to serve.
    pub listen: SocketAddr,
    /// The SQLite file.
    pub db: PathBuf,
    /// Keep changing the data of a few customers.
    pub activity: bool,
    /// Where to serve `/metrics`, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// Customers a new demo database gets.
pub const DEFAULT_CUSTOMERS: u64 = 10_000;

/// Between two changes of `--activity`.
const ACTIVITY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(700);

/// Longest the demo waits for its conversations to be indexed before it serves.
const HISTORY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database could not be opened or read.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The app could not be built.
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    /// Seeding failed.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The server failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// `--listen` or `--metrics-listen` beyond loopback: the demo has no authentication.
    #[error(
        "--{flag} {addr} is beyond loopback: the demo serves without authentication, on \
         loopback only (127.0.0.1 or [::1]). To serve beyond it, run `c360 serve` with a \
         configuration that turns [auth] on (see the README's Authentication)"
    )]
    BeyondLoopback {
        /// `listen` or `metrics-listen`.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// `--customers` asks for another number than the existing database holds.
    #[error(
        "{} already holds {holds} customers: --customers {asked} applies to a new database only \
         (remove the file, or give another with --db)",
        path.display()
    )]
    CustomersDiffer {
        /// The database.
        path: PathBuf,
        /// What it holds.
        holds: i64,
        /// What was asked for.
        asked: u64,
    },
}

/// Seeds (if needed) and serves until `shutdown` resolves.
pub async fn run(
    options: DemoOptions,
    program: &str,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DemoError> {
    let url = format!("sqlite://{}", options.db.display());
    let mut settings = Settings::default();
    settings.database.url = url.clone();
    settings.server.listen = options.listen;
    settings.metrics.listen = options.metrics;
    settings.server.console = true;
    // One replica on loopback, behind no load balancer: Ctrl-C stops it at once.
    settings.server.drain = std::time::Duration::ZERO;
    // Refused (beyond loopback) before anything is created.
    let beyond = [
        ("listen", Some(options.listen)),
        ("metrics-listen", options.metrics),
    ]
    .into_iter()
    .find_map(|(flag, addr)| addr.filter(|a| !a.ip().is_loopback()).map(|a| (flag, a)));
    if let Some((flag, addr)) = beyond {
        return Err(DemoError::BeyondLoopback { flag, addr });
    }
    settings.validate().map_err(crate::app::AppError::from)?;
    let db = Db::connect_or_create(&url, PoolOptions::default()).await?;
    let holds = customer_count(&db).await?;
    if holds > 0 {
        if let Some(asked) = options
            .customers
            .filter(|&asked| i64::try_from(asked) != Ok(holds))
        {
            db.close().await;
            return Err(DemoError::CustomersDiffer {
                path: options.db.clone(),
                holds,
                asked,
            });
        }
        // A database from an older c360 gets what the schema has gained since (the feed).
        db.migrate().await?;
    } else {
        let customers = options.customers.unwrap_or(DEFAULT_CUSTOMERS);
        eprintln!(
            "Creating {} with {customers} customers…",
            options.db.display(),
        );
        let bar = seed::progress_bar(customers);
        let report = seed::seed(&db, &SeedOptions::new(customers, 42), |n| {
            bar.set_position(n)
        })
        .await?;
        bar.finish_and_clear();
        eprintln!(
            "Seeded {} customers ({} rows) in {:.1}s.",
            report.customers,
            report.rows,
            report.elapsed.as_secs_f64()
        );
    }
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|error| DemoError::Listen {
            addr: options.listen,
            error,
        })?;
    let addr = listener.local_addr().map_err(|error| DemoError::Listen {
        addr: options.listen,
        error,
    })?;
    let metrics = match options.metrics {
        Some(at) => Some(
            TcpListener::bind(at)
                .await
                .map_err(|error| DemoError::Listen { addr: at, error })?,
        ),
        None => None,
    };
    let metrics_addr = metrics.as_ref().and_then(|l| l.local_addr().ok());
    let tour = tour(&db, program, addr, metrics_addr, options.activity).await?;
    let app = App::connect(&settings).await?;
    // The tour once the conversations are indexed, so that its searches answer at once (well
    // under a second in a release build; a slow machine is not waited for beyond this).
    app.history_ready(HISTORY_WAIT).await;
    println!("{}", tour.text);
    let activity = match (&db, options.activity) {
        (Db::Sqlite(pool), true) => Some(tokio::spawn(activity::run(
            pool.clone(),
            tour.live,
            ACTIVITY_INTERVAL,
        ))),
        _ => None,
    };
    let served = app.serve(listener, metrics, shutdown).await;
    if let Some(activity) = activity {
        activity.abort();
    }
    db.close().await;
    served?;
    Ok(())
}

async fn customer_count(db: &Db) -> Result<i64, DbError> {
    // A new file has no tables yet: that is zero customers.
    let tables: Option<(i64,)> = db
        .fetch_optional(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'customers'",
            &[],
        )
        .await?;
    if tables.is_none_or(|(n,)| n == 0) {
        return Ok(0);
    }
    let count: Option<(i64,)> = db
        .fetch_optional("SELECT COUNT(*) FROM customers", &[])
        .await?;
    Ok(count.map_or(0, |(n,)| n))
}

/// The commands to try, and the customers `--activity` keeps busy.
struct Tour {
    text: String,
    live: Vec<i64>,
}

/// Interesting customers of the data set, and the commands that show them.
async fn tour(
    db: &Db,
    program: &str,
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    activity: bool,
) -> Result<Tour, DbError> {
    let now = [Bind::Time(Utc::now())];
    let late: Option<(i64,)> = db
        .fetch_optional(
            "SELECT customer_id FROM shipments WHERE delivered_at IS NULL AND promised_at < $1 \
             ORDER BY customer_id LIMIT 1",
            &now,
        )
        .await?;
    let failed: Option<(i64,)> = db
        .fetch_optional(
            "SELECT customer_id FROM invoices WHERE status = 'payment_failed' \
             ORDER BY failed_at DESC LIMIT 1",
            &[],
        )
        .await?;
    let first = late.or(failed).map_or(1, |(id,)| id);
    let email: Option<(String,)> = db
        .fetch_optional(
            "SELECT email FROM customers WHERE id = $1",
            &[Bind::Int(first)],
        )
        .await?;
    let shared: Option<(String,)> = db
        .fetch_optional(
            "SELECT phone_e164 FROM customers GROUP BY phone_e164 HAVING COUNT(*) > 1 \
             ORDER BY phone_e164 LIMIT 1",
            &[],
        )
        .await?;
    let returnable: Option<(i64, String)> = db
        .fetch_optional(
            "SELECT o.id, l.sku FROM orders o JOIN order_lines l ON l.order_id = o.id \
             WHERE o.status = 'delivered' ORDER BY o.placed_at DESC, o.id LIMIT 1",
            &[],
        )
        .await?;
    let addr_flag = if addr.port() == 50051 && addr.ip().is_loopback() {
        String::new()
    } else {
        format!(" --addr http://{addr}")
    };
    let mut tour = format!(
        "The agent's console: http://{addr}/ (open it in a browser)\n\n\
         c360 is serving on {addr} (gRPC, gRPC-Web, health, reflection, the console).\n\nTry:\n"
    );
    let mut add = |what: &str, command: String| {
        tour.push_str(&format!("  # {what}\n  {command}\n"));
    };
    if let Some((id,)) = late {
        add(
            "a customer whose parcel is late",
            format!("{program} get {id}{addr_flag}"),
        );
        add(
            "what you may offer them, problem by problem, and why",
            format!("{program} offers {id}{addr_flag}"),
        );
    }
    let watched = late.or(failed).map_or(first, |(id,)| id);
    if activity {
        add(
            "follow a customer live (--activity changes them every few seconds)",
            format!("{program} watch {watched} --sections shipments,insights{addr_flag}"),
        );
    } else {
        add(
            "follow a customer live (start the demo with --activity to see changes)",
            format!("{program} watch {watched}{addr_flag}"),
        );
    }
    if let Some((id,)) = failed {
        add(
            "a customer whose payment failed, billing only, as JSON",
            format!("{program} get {id} --sections billing,insights --json{addr_flag}"),
        );
    }
    if let Some((email,)) = email {
        add(
            "look up by email",
            format!("{program} lookup --email {email}{addr_flag}"),
        );
    }
    if let Some((phone,)) = shared {
        add(
            "a number two customers share, written the way a caller says it",
            format!("{program} lookup --phone '{}'{addr_flag}", spoken(&phone)),
        );
    }
    if let Some((order, sku)) = returnable {
        add(
            "who placed an order",
            format!("{program} lookup --order {order}{addr_flag}"),
        );
        add(
            "can this line go back? (any gRPC client; grpcurl shown)",
            format!(
                "grpcurl -plaintext -d '{{\"order_id\":\"{order}\",\"sku\":\"{sku}\"}}' {addr} customer360.v1.CatalogService/CheckReturnEligibility"
            ),
        );
    }
    add(
        "the API, by reflection",
        format!("grpcurl -plaintext {addr} describe customer360.v1.CustomerService"),
    );
    add(
        "what the caches are doing, and latency per RPC",
        format!("{program} stats{addr_flag}"),
    );
    add(
        "the same, refreshed every second",
        format!("{program} top{addr_flag}"),
    );
    if let Some(metrics) = metrics {
        add(
            "what Prometheus scrapes",
            format!("curl -s http://{metrics}/metrics"),
        );
    }
    tour.push_str("\nStop with Ctrl-C.");
    let live = [watched, first]
        .into_iter()
        .chain(failed.map(|(id,)| id))
        .chain(1..=5)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Tour { text: tour, live })
}

/// `+442079460018` as a caller would say it: `0044 2079 4600 18`.
fn spoken(e164: &str) -> String {
    let digits = e164.trim_start_matches('+');
    let mut out = String::from("00");
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 4 == 2 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_numbers_normalise_back_to_the_same_e164() {
        let spoken = spoken("+442079460018");
        assert_eq!(spoken, "0044 2079 4600 18");
        let phone: crate::core::vocab::Phone = spoken.parse().expect("valid phone");
        assert_eq!(phone.as_str(), "+442079460018");
    }
}
