//! Writing generated rows: COPY on Postgres, multi-row INSERTs on SQLite, one transaction per
//! batch so that a failed seed leaves whole customers or none.

use std::fmt::Write as _;

use sqlx::{Postgres, QueryBuilder, Sqlite};

use crate::{core::db::Db, core::vocab::Timestamp};

/// A column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A timestamp.
    Time(Timestamp),
    /// A boolean.
    Bool(bool),
    /// SQL NULL.
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Self {
        Self::Time(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Rows for one table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Table name.
    pub name: &'static str,
    /// Column names, in row order.
    pub columns: &'static [&'static str],
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// An empty table to fill.
    pub(crate) fn new(name: &'static str, columns: &'static [&'static str]) -> Self {
        Self {
            name,
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one value per column.
    pub(crate) fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len(), "row width of {}", self.name);
        self.rows.push(row);
    }
}

/// SQLite's limit on bound parameters per statement, with room to spare.
const SQLITE_MAX_BINDS: usize = 30_000;

/// Postgres: what makes a transaction's writes no news to the feed — a setting the triggers
/// read, and a message logical decoding brings its leader ahead of the writes.
const PAUSE_THE_FEED: &str = "SET LOCAL synchronous_commit = off; \
     SET LOCAL c360.feed_paused = 'on'; \
     DO $$ BEGIN \
       IF current_setting('wal_level') = 'logical' THEN \
         PERFORM pg_logical_emit_message(true, 'c360.feed_paused', ''); \
       END IF; \
     EXCEPTION WHEN insufficient_privilege THEN NULL; \
     END $$";

/// Writes `tables`, in order (parents before children), in one transaction.
pub(super) async fn write(db: &Db, tables: Vec<Table>) -> Result<(), sqlx::Error> {
    match db {
        Db::Postgres { pool, .. } => {
            let mut tx = pool.begin().await?;
            // A seed can be run again: it need not wait for each commit to reach the disk. Nor
            // is it news: replicas need not follow it.
            sqlx::raw_sql(PAUSE_THE_FEED).execute(&mut *tx).await?;
            for table in tables.iter().filter(|t| !t.rows.is_empty()) {
                let statement = format!(
                    "COPY {} ({}) FROM STDIN",
                    table.name,
                    table.columns.join(", ")
                );
                let mut copy = tx.copy_in_raw(&statement).await?;
                copy.send(copy_text(table).into_bytes()).await?;
                copy.finish().await?;
            }
            tx.commit().await
        }
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            // Seen only by this transaction's triggers: the seed is not news.
            sqlx::query("INSERT INTO change_feed_pause (paused) VALUES (1)")
                .execute(&mut *tx)
                .await?;
            for table in tables {
                let per_statement = (SQLITE_MAX_BINDS / table.columns.len()).max(1);
                let mut rows = table.rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let mut insert = QueryBuilder::<Sqlite>::new(format!(
                        "INSERT INTO {} ({}) ",
                        table.name,
                        table.columns.join(", ")
                    ));
                    insert.push_values(rows.by_ref().take(per_statement), |mut row, values| {
                        for value in values {
                            match value {
                                Value::Int(v) => row.push_bind(v),
                                Value::Text(v) => row.push_bind(v),
                                Value::Time(v) => row.push_bind(v),
                                Value::Bool(v) => row.push_bind(v),
                                Value::Null => row.push_bind(None::<i64>),
                            };
                        }
                    });
                    insert.build().execute(&mut *tx).await?;
                }
            }
            sqlx::query("DELETE FROM change_feed_pause")
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
    }
}

/// The rows of `table` in COPY's text format.
fn copy_text(table: &Table) -> String {
    let mut out = String::with_capacity(table.rows.len() * table.columns.len() * 12);
    for row in &table.rows {
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            match value {
                Value::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                Value::Text(v) => escape_copy(&mut out, v),
                Value::Time(v) => out.push_str(&v.to_rfc3339()),
                Value::Bool(v) => out.push(if *v { 't' } else { 'f' }),
                Value::Null => out.push_str("\\N"),
            }
        }
        out.push('\n');
    }
    out
}

fn escape_copy(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Moves the identity sequences of Postgres past the ids the seed wrote, so that new rows
/// (from the backends' own writers) get fresh ids.
pub(super) async fn advance_sequences(db: &Db) -> Result<(), sqlx::Error> {
    let Db::Postgres { pool, .. } = db else {
        return Ok(());
    };
    for table in [
        "customers",
        "interactions",
        "interaction_messages",
        "payment_methods",
        "invoices",
        "orders",
        "shipments",
    ] {
        let mut statement = QueryBuilder::<Postgres>::new("SELECT setval(pg_get_serial_sequence(");
        statement
            .push_bind(table)
            .push(", 'id'), GREATEST((SELECT MAX(id) FROM ")
            .push(table)
            .push("), 1))");
        statement.build().execute(pool).await?;
    }
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        let mut table = Table::new("t", &["a", "b", "c", "d"]);
        table.push(vec![
            Value::Int(7),
            Value::Text("tab\there\\new\nline".into()),
            Value::Null,
            Value::Bool(true),
        ]);
        assert_eq!(copy_text(&table), "7\ttab\\there\\\\new\\nline\t\\N\tt\n");
    }
}
