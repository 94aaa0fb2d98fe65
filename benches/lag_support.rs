//! What the lag benches share (`feed_lag`, `attention_lag`): their arguments and the
//! statements they run on the server's `postgres` database.

use c360::core::cache::feed::Capture;
use sqlx::{Connection, PgConnection};

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

/// Runs `statement` on the server of `base` (creating and dropping the bench's database).
pub(crate) async fn admin(base: &str, statement: String) {
    let mut connection = PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("the lag benches need PostgreSQL: start it, or run scripts/test, which does");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await
        .unwrap();
}
