//! What the lag benches share (`feed_lag`, `attention_lag`): their arguments and the
//! statements they run on the server's `postgres` database.

use c360::{
    core::{
        cache::feed::Capture,
        db::{Bind, Db, PoolOptions},
    },
    tools::seed::{self, SeedOptions},
};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;

/// The change the writers make: one customer's loyalty points.
pub(crate) const UPDATE: &str =
    "UPDATE customers SET loyalty_points = loyalty_points + 1 WHERE id = $1";

/// The bench's arguments: `--bench` (a full run, as `cargo bench` passes it; a smoke test
/// otherwise), `--name value` pairs, `--capture auto|logical|triggers`.
pub(crate) struct Args(Vec<String>);

impl Args {
    pub(crate) fn of_process() -> Self {
        Self(std::env::args().collect())
    }

    /// Whether this is a full run, not a smoke test.
    pub(crate) fn full(&self) -> bool {
        self.0.iter().any(|a| a == "--bench")
    }

    /// The number after `name`, if given.
    pub(crate) fn value(&self, name: &str) -> Option<u64> {
        self.0
            .windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
    }

    /// How changes are followed; `auto` unless given.
    pub(crate) fn capture(&self) -> Capture {
        match self.0.windows(2).find(|w| w[0] == "--capture") {
            None => Capture::Auto,
            Some(w) => match w[1].as_str() {
                "auto" => Capture::Auto,
                "logical" => Capture::Logical,
                "triggers" => Capture::Triggers,
                other => panic!("--capture {other}: auto, logical or triggers"),
            },
        }
    }
}

/// A database of the bench's own on the server `C360_TEST_POSTGRES` (default the local one),
/// dropped by [`BenchDatabase::drop`].
pub(crate) struct BenchDatabase {
    base: String,
    name: String,
    /// Where it is.
    pub(crate) url: String,
}

impl BenchDatabase {
    /// `c360_<bench>_<pid>`, made anew with `customers` customers seeded; a pool on it.
    pub(crate) async fn seeded(bench: &str, customers: u64, pool: PoolOptions) -> (Self, Db) {
        let base = std::env::var("C360_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("c360_{bench}_{}", std::process::id());
        admin(&base, format!("DROP DATABASE IF EXISTS {name}")).await;
        admin(&base, format!("CREATE DATABASE {name}")).await;
        let url = format!("{base}/{name}");
        let db = Db::connect_or_create(&url, pool).await.unwrap();
        let mut seeding = SeedOptions::new(customers, 1);
        seeding.batch_size = 500;
        seed::seed(&db, &seeding, |_| {}).await.unwrap();
        (Self { base, name, url }, db)
    }

    /// Drops it, whoever is still connected: a replication stream still closing too (its
    /// slot is dropped once it has gone), for up to ten seconds.
    pub(crate) async fn drop(self) {
        let Self { base, name, .. } = self;
        let mut tries = 0;
        loop {
            let slots = format!("FROM pg_replication_slots WHERE database = '{name}'");
            let _ = try_admin(
                &base,
                format!(
                    "SELECT pg_terminate_backend(active_pid) {slots} AND active_pid IS NOT NULL"
                ),
            )
            .await;
            let _ = try_admin(
                &base,
                format!("SELECT pg_drop_replication_slot(slot_name) {slots} AND NOT active"),
            )
            .await;
            let dropped = try_admin(
                &base,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
            tries += 1;
            match dropped {
                Ok(()) => return,
                Err(_) if tries < 50 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(error) => panic!("the bench's database {name} could not be dropped: {error}"),
            }
        }
    }
}

/// Runs `statement` on the server of `base` (creating and dropping the bench's database).
async fn admin(base: &str, statement: String) {
    try_admin(base, statement).await.unwrap();
}

async fn try_admin(base: &str, statement: String) -> Result<(), sqlx::Error> {
    let mut connection = PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("the lag benches need PostgreSQL: start it, or run scripts/test, which does");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await
        .map(|_| ())
}

/// `writers` writers, each updating its own share of customers `1..=customers` in turn as
/// fast as it can until `until`, calling `before` with each customer just before its UPDATE;
/// how many updates. A customer comes round again only after every other of its writer's.
pub(crate) async fn flat_out(
    db: &Db,
    writers: u32,
    customers: i64,
    until: Instant,
    before: impl Fn(i64) + Clone + Send + 'static,
) -> u64 {
    let mut tasks = Vec::new();
    for writer in 0..i64::from(writers) {
        let (db, before) = (db.clone(), before.clone());
        tasks.push(tokio::spawn(async move {
            let mut written = 0u64;
            let mut customer = writer + 1;
            while Instant::now() < until {
                before(customer);
                db.execute(UPDATE, &[Bind::Int(customer)]).await.unwrap();
                written += 1;
                customer += i64::from(writers);
                if customer > customers {
                    customer = writer + 1;
                }
            }
            written
        }));
    }
    let mut written = 0;
    for task in tasks {
        written += task.await.unwrap();
    }
    written
}
