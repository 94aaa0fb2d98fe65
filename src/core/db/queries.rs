//! The statements a source runs, in either dialect: every row, the first row, one JSON
//! document (Postgres: on [`super::pipes`]), one JSON document per key read in batches
//! ([`super::batches`]), and statements that return no rows.

use sqlx::{
    ConnectOptions, Connection, FromRow,
    postgres::{PgPool, PgRow},
    sqlite::SqliteRow,
};

use super::{Db, errors::why_no_connection};
use crate::core::vocab::Timestamp;

/// A value bound to a query parameter.
#[derive(Debug, Clone)]
pub enum Bind {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A timestamp.
    Time(Timestamp),
}

/// A row type that both drivers can decode.
pub trait Record:
    for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin + 'static
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin + 'static
{
}

/// Binds every value of `$binds` to the query `$query`, whatever its database.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
                Bind::Time(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// The statement [`Db::fetch_json_of`] runs: `$document`, a JSON expression of one key
/// (`k.id`), for every key of `$1` (`BIGINT[]`), as a row of the key and the document as text.
macro_rules! per_key {
    ($document:expr) => {
        concat!(
            "SELECT k.id, CAST(",
            $document,
            " AS TEXT) FROM unnest(CAST($1 AS BIGINT[])) AS k(id)"
        )
    };
}
pub(crate) use per_key;

impl Db {
    /// Every row `sql` returns. Parameters are `$1`, `$2`, … in both dialects.
    pub async fn fetch_all<T: Record>(
        &self,
        sql: &'static str,
        binds: &[Bind],
    ) -> Result<Vec<T>, sqlx::Error> {
        match self {
            Self::Postgres { pool, .. } => {
                let rows = bind_all!(sqlx::query_as(sql), binds).fetch_all(pool).await;
                explained(pool, rows).await
            }
            Self::Sqlite(pool) => bind_all!(sqlx::query_as(sql), binds).fetch_all(pool).await,
        }
    }

    /// The first row `sql` returns, if any.
    pub async fn fetch_optional<T: Record>(
        &self,
        sql: &'static str,
        binds: &[Bind],
    ) -> Result<Option<T>, sqlx::Error> {
        match self {
            Self::Postgres { pool, .. } => {
                let row = bind_all!(sqlx::query_as(sql), binds)
                    .fetch_optional(pool)
                    .await;
                explained(pool, row).await
            }
            Self::Sqlite(pool) => {
                bind_all!(sqlx::query_as(sql), binds)
                    .fetch_optional(pool)
                    .await
            }
        }
    }

    /// Whether this is Postgres, whose sources read a customer in one statement.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    /// The one JSON document `sql` returns as text (Postgres: `CAST(json_build_array(…) AS
    /// TEXT)`, rows as arrays in their fields' order, timestamps read by [`json`]), decoded: how
    /// a source reads what would take several statements in one round trip.
    pub async fn fetch_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        binds: &[Bind],
    ) -> Result<T, sqlx::Error> {
        match self {
            Self::Postgres { pipes, .. } => pipes.fetch_text(sql, binds, document).await,
            Self::Sqlite(pool) => {
                let (body,): (String,) = bind_all!(sqlx::query_as(sql), binds)
                    .fetch_one(pool)
                    .await?;
                document(&body)
            }
        }
    }

    /// On Postgres, the JSON document (as [`Self::fetch_json`] reads it) that `sql`, a
    /// statement made by [`per_key!`], answers for `key`: read in one batch with the other reads
    /// of `sql` under way ([`super::batches`]). `rest` binds `$2`, `$3`, …. On SQLite, which
    /// reads rows, an error: its sources run their row statements.
    pub async fn fetch_json_of<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        key: i64,
        rest: &[Bind],
    ) -> Result<T, sqlx::Error> {
        let Self::Postgres { batches, .. } = self else {
            return Err(sqlx::Error::Protocol(
                "reads by key are batched on Postgres".into(),
            ));
        };
        document(&batches.fetch(sql, key, rest).await?)
    }

    /// Every row of `sql`; on Postgres `json` instead, the same rows as one document (see
    /// [`Self::fetch_json`]), so that it runs on the pipelined connections.
    pub async fn fetch_rows<T: Record + serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        json: &'static str,
        binds: &[Bind],
    ) -> Result<Vec<T>, sqlx::Error> {
        match self {
            Self::Postgres { .. } => self.fetch_json(json, binds).await,
            Self::Sqlite(_) => self.fetch_all(sql, binds).await,
        }
    }

    /// Runs a statement that returns no rows; the number of rows it touched.
    pub async fn execute(&self, sql: &'static str, binds: &[Bind]) -> Result<u64, sqlx::Error> {
        match self {
            Self::Postgres { pool, .. } => {
                let done = bind_all!(sqlx::query(sql), binds).execute(pool).await;
                explained(pool, done).await.map(|r| r.rows_affected())
            }
            Self::Sqlite(pool) => bind_all!(sqlx::query(sql), binds)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
    }
}

/// How long connecting once more may take, to say why a pool has no connection.
const WHY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `result`, or, when the pool timed out with no connection idle, why: sqlx retries a
/// refused connection until its acquire timeout and then says only "pool timed out", so
/// connecting once more tells a refused port or an unknown host from a busy pool. (This pool
/// serves the feed, the catalog and migrations, never the calls' reads: one more connection
/// after a whole acquire timeout costs the database nothing it would notice.)
pub(crate) async fn explained<T>(
    pool: &PgPool,
    result: Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    match result {
        Err(sqlx::Error::PoolTimedOut) if pool.num_idle() == 0 => {
            let options = pool.connect_options();
            Err(
                match tokio::time::timeout(WHY_TIMEOUT, options.connect()).await {
                    Ok(Err(cause)) => why_no_connection(&cause),
                    Ok(Ok(connection)) => {
                        let _closed = connection.close().await;
                        sqlx::Error::PoolTimedOut
                    }
                    Err(_) => why_no_connection(&sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting takes longer than {WHY_TIMEOUT:?}"),
                    ))),
                },
            )
        }
        other => other,
    }
}

/// A JSON document a statement returned, decoded.
fn document<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(body).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
