//! The attention queue, kept in c360's own tables (`attention_items`, `attention_history`; in
//! Postgres, or SQLite in the demo), so that a restart or another replica loses no claim and
//! two replicas see one queue.
//!
//! Items come from [`super::derive`]: [`Store::sync`] creates what is new, reopens what came
//! back and clears what went away, for the reasons whose backends answered; deriving again
//! (a replayed feed, a restart) changes nothing. Agents claim an item for a lease; every new
//! claim raises the item's version, and a renewal, a release or a resolution must carry the
//! version of the claim it acts on (a fencing token), so an agent whose lease lapsed and was
//! taken over cannot act on the item. A lapsed lease gives the item back with its original
//! due instant. Every transition (created, claimed, released, expired, resolved, cleared,
//! reopened) is copied into the history by the tables' own trigger, in the same transaction.

use chrono::Duration;

use super::items::{Derived, Item, ItemKey, Reason};
use crate::core::{
    db::{Bind, Db, Statistics, per_key},
    records::Tier,
    vocab::{CustomerId, Timestamp},
};

/// Who c360 itself is in the history, for what it derives.
pub const DERIVED_BY: &str = "c360";

/// An item as kept.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct Kept {
    /// Customer id.
    pub customer_id: i64,
    /// [`Reason::as_str`].
    pub reason: String,
    /// The record behind it.
    pub cause: String,
    /// `open`, `cleared` (its cause went away) or `resolved` (by an agent).
    pub state: String,
    /// When it became due (Unix µs).
    pub due_us: i64,
    /// What shows it.
    pub evidence: String,
    /// What to do.
    pub action: String,
    /// The agent holding it, if any.
    pub claimed_by: Option<String>,
    /// Until when (Unix µs).
    pub lease_until_us: Option<i64>,
    /// Raised by every claim.
    pub version: i64,
    /// What the resolving agent recorded.
    pub outcome: Option<String>,
    /// The customer's tier when last derived (`gold`…); empty if unknown.
    pub tier: String,
}

/// The columns of a [`Kept`], in its order, for every statement that reads one.
macro_rules! kept_columns {
    ($table:literal) => {
        concat!(
            $table,
            "customer_id, ",
            $table,
            "reason, ",
            $table,
            "cause, ",
            $table,
            "state, ",
            $table,
            "due_us, ",
            $table,
            "evidence, ",
            $table,
            "action, ",
            $table,
            "claimed_by, ",
            $table,
            "lease_until_us, ",
            $table,
            "version, ",
            $table,
            "outcome, ",
            $table,
            "tier"
        )
    };
}

/// A customer's kept items as one document (Postgres: a row of [`Kept`]'s columns each), read
/// in one statement with those of the other customers being derived ([`Db::fetch_json_of`]).
const KEPT_OF: &str = per_key!(concat!(
    "(SELECT COALESCE(json_agg(json_build_array(",
    kept_columns!(""),
    ")), '[]') FROM attention_items WHERE customer_id = k.id)"
));

/// One transition in an item's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Transition {
    /// `created`, `claimed`, `renewed`, `released`, `expired`, `resolved`, `cleared`,
    /// `reopened`.
    pub transition: String,
    /// Who: an agent, or `c360`.
    pub actor: String,
    /// When (Unix µs).
    pub at_us: i64,
    /// The item's version after it.
    pub version: i64,
    /// The outcome, for a resolution.
    pub outcome: Option<String>,
}

/// A claim held: the version to act with, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The fencing version.
    pub version: i64,
    /// When the lease lapses (Unix µs) unless renewed.
    pub lease_until_us: i64,
}

/// Why a claim or an act on one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No such item.
    #[error("no such attention item")]
    NotFound,
    /// Its cause cleared, or it was resolved.
    #[error("the item is {0}, not open")]
    NotOpen(String),
    /// Another agent holds it.
    #[error("the item is claimed by {by} until {until_us}")]
    ClaimedByOther {
        /// The agent.
        by: String,
        /// Until (Unix µs).
        until_us: i64,
    },
    /// The claim acted on is not the item's current one (it lapsed, or another was made).
    #[error("this claim is no longer the item's (version {current} is)")]
    Stale {
        /// The current version.
        current: i64,
    },
}

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// New items.
    pub created: u64,
    /// Items whose cause came back.
    pub reopened: u64,
    /// Items whose cause went away.
    pub cleared: u64,
}

fn micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

/// An item's key, due instant, words, deriver, instant and tier: `$1`…`$9`.
fn item_binds(item: &Item, tier: &str, now: i64) -> Vec<Bind> {
    let mut binds = key_binds(&item.key).to_vec();
    binds.extend([
        Bind::Int(micros(item.due)),
        Bind::Text(item.evidence.clone()),
        Bind::Text(item.action.clone()),
        Bind::Text(DERIVED_BY.into()),
        Bind::Int(now),
        Bind::Text(tier.into()),
    ]);
    binds
}

fn key_binds(key: &ItemKey) -> [Bind; 3] {
    [
        Bind::Int(key.customer.get()),
        Bind::Text(key.reason.as_str().into()),
        Bind::Text(key.cause.clone()),
    ]
}

/// The queue's tables in c360's database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    figures: std::sync::Arc<super::figures::AttentionFigures>,
    /// The rows this replica writes, for `attention_items`' statistics.
    written: std::sync::Arc<Statistics>,
}

impl Store {
    /// The tables of `db` (migrated already: `Db::migrate`).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            figures: std::sync::Arc::default(),
            written: std::sync::Arc::new(Statistics::new("ANALYZE attention_items")),
        }
    }

    /// Analyzes `attention_items` (Postgres) if this replica wrote enough rows since it was
    /// last analyzed ([`Statistics`]); whether it did.
    pub async fn keep_statistics(&self) -> Result<bool, sqlx::Error> {
        self.written.keep(&self.db).await
    }

    /// What this replica counts of the queue.
    pub fn figures(&self) -> &std::sync::Arc<super::figures::AttentionFigures> {
        &self.figures
    }

    /// Makes the kept items of `customer` what `derived` says, for the reasons it knows: one
    /// read of what is kept (on Postgres in one statement with the other customers' being
    /// derived), then a write only for what differs (most derivations, after a change that
    /// moved nothing the queue shows, write nothing).
    pub async fn sync(
        &self,
        customer: CustomerId,
        derived: &Derived,
        now: Timestamp,
    ) -> Result<Synced, sqlx::Error> {
        let kept: Vec<Kept> = if self.db.is_postgres() {
            self.db.fetch_json_of(KEPT_OF, customer.get(), &[]).await?
        } else {
            self.db
                .fetch_all(
                    concat!(
                        "SELECT ",
                        kept_columns!(""),
                        " FROM attention_items WHERE customer_id = $1"
                    ),
                    &[Bind::Int(customer.get())],
                )
                .await?
        };
        let mut synced = Synced::default();
        let now = micros(now);
        let tier = derived.tier.map_or("", Tier::as_str);
        for item in &derived.items {
            let was = kept
                .iter()
                .find(|k| k.reason == item.key.reason.as_str() && k.cause == item.key.cause);
            match was.map(|k| k.state.as_str()) {
                None => {
                    if self.create(item, tier, now).await? {
                        synced.created += 1;
                    }
                }
                Some("cleared") => synced.reopened += self.reopen(item, tier, now).await?,
                Some("open") => {
                    let kept = was.expect("found");
                    if kept.evidence != item.evidence
                        || kept.action != item.action
                        || kept.tier != tier
                    {
                        self.reword(item, tier).await?;
                    }
                }
                // Resolved by an agent: kept so until its cause goes away and comes back.
                Some(_) => {}
            }
        }
        for gone in kept.iter().filter(|k| k.state != "cleared") {
            let Some(reason) = Reason::parse(&gone.reason) else {
                continue;
            };
            let held = derived
                .items
                .iter()
                .any(|i| i.key.reason == reason && i.key.cause == gone.cause);
            if derived.known.contains(&reason) && !held {
                synced.cleared += self.clear(customer, reason, &gone.cause, now).await?;
            }
        }
        // Every item shows the tier, those of reasons not derived now too.
        let retier = |k: &Kept| {
            k.state != "cleared"
                && k.tier != tier
                && Reason::parse(&k.reason).is_some_and(|reason| !derived.known.contains(&reason))
        };
        if derived.tier.is_some() && kept.iter().any(retier) {
            self.db
                .execute(
                    "UPDATE attention_items SET tier = $2 \
                     WHERE customer_id = $1 AND tier <> $2 AND state <> 'cleared'",
                    &[Bind::Int(customer.get()), Bind::Text(tier.into())],
                )
                .await?;
        }
        self.written
            .add(synced.created + synced.reopened + synced.cleared);
        Ok(synced)
    }

    /// Keeps a new item, open; false if another replica kept it first.
    async fn create(&self, item: &Item, tier: &str, now: i64) -> Result<bool, sqlx::Error> {
        let created = "INSERT INTO attention_items (customer_id, reason, cause, state, \
             due_us, evidence, action, transition, actor, changed_us, tier) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, 'created', $7, $8, $9) \
             ON CONFLICT (customer_id, reason, cause) DO NOTHING";
        Ok(self
            .db
            .execute(created, &item_binds(item, tier, now))
            .await?
            > 0)
    }

    /// Opens again an item whose cause came back, with its due instant as derived now.
    async fn reopen(&self, item: &Item, tier: &str, now: i64) -> Result<u64, sqlx::Error> {
        let reopened = "UPDATE attention_items SET state = 'open', claimed_by = NULL, \
             lease_until_us = NULL, outcome = NULL, transition = 'reopened', actor = $7, \
             changed_us = $8, due_us = $4, evidence = $5, action = $6, tier = $9 \
             WHERE customer_id = $1 AND reason = $2 AND cause = $3 AND state = 'cleared'";
        self.db
            .execute(reopened, &item_binds(item, tier, now))
            .await
    }

    /// An open item's words move on (a parcel one more day late), with no transition.
    async fn reword(&self, item: &Item, tier: &str) -> Result<u64, sqlx::Error> {
        let reworded = "UPDATE attention_items SET evidence = $4, action = $5, tier = $6 \
             WHERE customer_id = $1 AND reason = $2 AND cause = $3 AND state = 'open'";
        let mut binds = key_binds(&item.key).to_vec();
        binds.extend([
            Bind::Text(item.evidence.clone()),
            Bind::Text(item.action.clone()),
            Bind::Text(tier.into()),
        ]);
        self.db.execute(reworded, &binds).await
    }

    /// Clears an item whose cause went away: an open one, or a resolved one too, so that a
    /// cause that comes back after an agent dealt with it opens its item again.
    async fn clear(
        &self,
        customer: CustomerId,
        reason: Reason,
        cause: &str,
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        self.db
            .execute(
                "UPDATE attention_items SET state = 'cleared', claimed_by = NULL, \
                 lease_until_us = NULL, transition = 'cleared', actor = $4, changed_us = $5 \
                 WHERE customer_id = $1 AND reason = $2 AND cause = $3 \
                 AND state <> 'cleared'",
                &[
                    Bind::Int(customer.get()),
                    Bind::Text(reason.as_str().into()),
                    Bind::Text(cause.into()),
                    Bind::Text(DERIVED_BY.into()),
                    Bind::Int(now),
                ],
            )
            .await
    }

    /// The item of `key`, as kept.
    pub async fn get(&self, key: &ItemKey) -> Result<Option<Kept>, sqlx::Error> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    kept_columns!(""),
                    " FROM attention_items WHERE customer_id = $1 AND reason = $2 AND cause = $3"
                ),
                &key_binds(key),
            )
            .await
    }

    /// The open items, earliest due first, at most `limit`: the first page of the whole queue.
    pub async fn open(&self, limit: i64) -> Result<Vec<Kept>, sqlx::Error> {
        let everything = queue::Filter::default();
        self.page(&everything, None, limit, chrono::Utc::now())
            .await
    }

    /// `key`'s transitions, oldest first.
    pub async fn history(&self, key: &ItemKey) -> Result<Vec<Transition>, sqlx::Error> {
        self.db
            .fetch_all(
                "SELECT transition, actor, at_us, version, outcome FROM attention_history \
                 WHERE customer_id = $1 AND reason = $2 AND cause = $3 ORDER BY id",
                &key_binds(key),
            )
            .await
    }
}

pub mod claims;
pub mod queue;
