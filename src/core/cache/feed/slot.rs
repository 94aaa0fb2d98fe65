//! The replication slot a Postgres database's changes are read from, and the one replica that
//! holds it.
//!
//! The leader is whoever holds an advisory lock on a connection of its own (advisory locks
//! belong to one database, as slots do); the others try again every second, so that one takes
//! over within about a second of the leader's connection closing. The slot outlives its
//! readers: a new leader resumes where the last one acknowledged, replaying what was read
//! but not yet published. A slot the server invalidated (`wal_status = 'lost'`: it held more
//! write-ahead log than `max_slot_wal_keep_size` allows) is dropped and made again, and a new
//! slot captured nothing before it: the leader then flushes every cache.

use sqlx::{PgConnection, PgPool};

use super::logical::HEARTBEAT;
use crate::core::db::{Db, explained};

/// The publication migration 0004 creates: the tables whose changes are followed.
pub(super) const PUBLICATION: &str = "c360_feed";

/// The advisory lock its leader holds: "c360feed".
const LEADER_LOCK: i64 = 0x6333_3630_6665_6564;

const CAPABILITY: &str = "SELECT current_setting('wal_level'), \
     COALESCE((SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), false), \
     EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'c360_feed')";

/// Whether a database can be followed by logical decoding, and if not, what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Capability {
    wal_level: String,
    may_replicate: bool,
    published: bool,
}

impl Capability {
    /// Asks the database.
    pub(super) async fn of(db: &Db) -> Result<Self, sqlx::Error> {
        let (wal_level, may_replicate, published): (String, bool, bool) = db
            .fetch_optional(CAPABILITY, &[])
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        Ok(Self {
            wal_level,
            may_replicate,
            published,
        })
    }

    /// What a DBA (or `c360 migrate`) must change first; `None` when nothing is missing.
    pub(super) fn missing(&self) -> Option<String> {
        let mut missing = Vec::new();
        if self.wal_level != "logical" {
            missing.push(format!(
                "wal_level is {:?}: set wal_level = logical (and restart the server)",
                self.wal_level
            ));
        }
        if !self.may_replicate {
            missing.push("c360's role may not replicate: ALTER ROLE … REPLICATION".to_owned());
        }
        if !self.published {
            missing.push("publication c360_feed missing: apply migration 0004".to_owned());
        }
        (!missing.is_empty()).then(|| missing.join("; "))
    }
}

/// A slot's name for the database `name`: slots are the whole server's, so each database
/// gets its own (letters, digits and underscores, at most 63 bytes).
pub(super) fn slot_name(database: &str) -> String {
    let mut name: String = format!("c360_{database}")
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    name.truncate(63);
    name
}

/// The leader's own connection: it holds the lock while it lives.
pub(super) struct Leadership {
    connection: PgConnection,
    /// The slot of this database.
    pub(super) slot: String,
}

impl Leadership {
    /// Takes the lead if no other replica holds it.
    pub(super) async fn claim(pool: &PgPool) -> Result<Option<Self>, sqlx::Error> {
        let mut connection = explained(pool, pool.acquire().await).await?.detach();
        let (held, database): (bool, String) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1), current_database()")
                .bind(LEADER_LOCK)
                .fetch_one(&mut connection)
                .await?;
        Ok(held.then(|| Self {
            connection,
            slot: slot_name(&database),
        }))
    }

    /// Makes sure the slot stands, made again if the server invalidated it; true when it is
    /// new (it holds no change from before now).
    pub(super) async fn prepare_slot(&mut self) -> Result<bool, sqlx::Error> {
        let status: Option<(Option<String>,)> =
            sqlx::query_as("SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1")
                .bind(&self.slot)
                .fetch_optional(&mut self.connection)
                .await?;
        match status {
            Some((Some(status),)) if status == "lost" => {
                tracing::warn!(slot = %self.slot, "replication slot lost (it held more WAL than max_slot_wal_keep_size): making a new one and flushing every cache");
                sqlx::query("SELECT pg_drop_replication_slot($1)")
                    .bind(&self.slot)
                    .execute(&mut self.connection)
                    .await?;
            }
            Some(_) => return Ok(false),
            None => {}
        }
        // Waits for the transactions running now to end: every later commit is in the slot.
        sqlx::query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')")
            .bind(&self.slot)
            .execute(&mut self.connection)
            .await?;
        tracing::info!(slot = %self.slot, "replication slot created");
        Ok(true)
    }

    /// Switches the feed's triggers off: the slot captures every change. How many were on.
    pub(super) async fn switch_triggers_off(&mut self) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT c360_set_feed_triggers(false)")
            .fetch_one(&mut self.connection)
            .await
    }

    /// Writes a heartbeat into the write-ahead log, after every commit before it: when the
    /// stream brings it back, every one of them has been read. Fails when the connection
    /// that holds the lead is gone.
    pub(super) async fn heartbeat(&mut self) -> Result<(), sqlx::Error> {
        let now = chrono::Utc::now().timestamp_micros().to_string();
        sqlx::query("SELECT pg_logical_emit_message(false, $1, $2)")
            .bind(HEARTBEAT)
            .bind(now)
            .execute(&mut self.connection)
            .await
            .map(drop)
    }
}

/// Following by triggers again after logical decoding (or never having left): the triggers
/// switched back on, and the slot, once no replica reads it, dropped (a slot nobody reads
/// holds write-ahead log for ever). True when triggers were off: changes committed while
/// they were may have reached no replica, and every cache must go.
pub(super) async fn restore_triggers(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let switched: Result<i32, sqlx::Error> =
        sqlx::query_scalar("SELECT c360_set_feed_triggers(true)")
            .fetch_one(pool)
            .await;
    let switched = match switched {
        // Before migration 0004 nothing could switch them off.
        Err(sqlx::Error::Database(refusal)) if refusal.code().as_deref() == Some("42883") => 0,
        other => other?,
    };
    // (ALTER TABLE waited for every writer of each table to end: a change made while its
    // trigger was off is committed now.)
    let (database,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(pool)
        .await?;
    let slot = slot_name(&database);
    let active: Option<(bool,)> =
        sqlx::query_as("SELECT active FROM pg_replication_slots WHERE slot_name = $1")
            .bind(&slot)
            .fetch_optional(pool)
            .await?;
    if active == Some((false,)) {
        let dropped = sqlx::query("SELECT pg_drop_replication_slot($1)")
            .bind(&slot)
            .execute(pool)
            .await;
        match dropped {
            Ok(_) => tracing::info!(%slot, "replication slot dropped: following by triggers"),
            // A leader took it meanwhile (object_in_use), or another replica dropped it.
            Err(sqlx::Error::Database(refusal))
                if matches!(refusal.code().as_deref(), Some("55006" | "42704")) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(switched > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_are_what_postgres_accepts() {
        assert_eq!(slot_name("c360"), "c360_c360");
        assert_eq!(slot_name("Billing-EU.1"), "c360_billing_eu_1");
        assert_eq!(slot_name(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn what_is_missing_is_said_with_what_to_set() {
        let missing = Capability {
            wal_level: "replica".into(),
            may_replicate: false,
            published: true,
        }
        .missing()
        .expect("missing");
        assert!(missing.contains("wal_level = logical"), "{missing}");
        assert!(missing.contains("REPLICATION"), "{missing}");
        let ready = Capability {
            wal_level: "logical".into(),
            may_replicate: true,
            published: true,
        };
        assert_eq!(ready.missing(), None);
    }
}
