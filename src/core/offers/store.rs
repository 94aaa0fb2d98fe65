//! The offers' ledger, in c360's own tables (`offers`, `offer_ledger`; Postgres, or SQLite in
//! the demo). Recording an offer is one transaction that holds the customer and the agent
//! (Postgres: two advisory locks, always in that order, so two transactions never wait on
//! each other; SQLite: `BEGIN IMMEDIATE`, one writer at a time), reads the customer's offers
//! and the agent's spending today, judges the offer against the envelope they make, and writes
//! it: two agents racing for one problem, or one agent's requests racing for its budget, are
//! decided one after the other on what the other wrote. A unique index backs the rule that a
//! once-only offer is made once a problem. Every transition is appended to the ledger, which
//! nothing updates or deletes (the tables' triggers refuse it).

mod reads;
mod rows;

use sqlx::Row;

use self::rows::{COLUMNS, OfferRow, SPENT_SINCE, counting_of_customer, day_start, new_id, offers};

use super::{Amount, Offer, OfferKind, OfferState, envelope::Refusal, envelope::Verdict};
use crate::core::{
    db::Db,
    vocab::{CustomerId, Timestamp},
};

/// An offer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// To whom.
    pub customer: CustomerId,
    /// For which problem.
    pub problem: String,
    /// What.
    pub kind: OfferKind,
    /// How much.
    pub amount: Amount,
    /// Who asks.
    pub agent: String,
    /// The request, as the audit names it.
    pub request_id: String,
    /// The caller's own key for the request, if it gave one: asking again finds the offer.
    pub client_key: Option<String>,
    /// Now.
    pub now: Timestamp,
}

/// What became of an offer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now: within the caller's limits, or awaiting approval.
    New(Offer),
    /// Recorded before under the same caller's key, as asked now.
    Again(Offer),
    /// The caller's key names an offer other than the one asked now.
    KeyReused,
    /// Refused.
    Refused(Refusal),
}

/// What became of an approval or a rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Settled now.
    Done(Offer),
    /// No such offer.
    NotFound,
    /// It is not awaiting approval.
    NotAwaiting(OfferState),
    /// Its own agent cannot settle it.
    OwnOffer,
}

/// A ledger entry: a transition, and the offer as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position.
    pub position: i64,
    /// The state the offer went into.
    pub state: OfferState,
    /// Who moved it.
    pub actor: String,
    /// When.
    pub at: Timestamp,
    /// The offer now.
    pub offer: Offer,
}

/// The ledger.
#[derive(Debug, Clone)]
pub struct OfferStore {
    db: Db,
}

/// The statements of a recording, run on `$conn` (a transaction's connection of either
/// database) — one text for both: their parameters are `$1`, `$2`, ….
macro_rules! record_in {
    ($conn:expr, $asked:expr, $judge:expr $(, $ordered:expr)?) => {{
        let asked: &Asked = $asked;
        if let Some(key) = &asked.client_key {
            let sql =
                format!("SELECT {COLUMNS} FROM offers o WHERE o.agent = $1 AND o.client_key = $2");
            let before: Option<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&asked.agent)
                .bind(key)
                .fetch_optional(&mut *$conn)
                .await?;
            if let Some(before) = before.and_then(OfferRow::offer) {
                let same = before.customer == asked.customer
                    && before.problem == asked.problem
                    && before.kind == asked.kind
                    && before.amount == asked.amount;
                return Ok(match same {
                    true => Recorded::Again(before),
                    false => Recorded::KeyReused,
                });
            }
        }
        let made: Vec<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(counting_of_customer()))
            .bind(asked.customer.get())
            .fetch_all(&mut *$conn)
            .await?;
        let made = offers(made);
        let currency = asked.amount.money().map(|m| m.currency.to_string());
        let spent: i64 = sqlx::query(SPENT_SINCE)
        .bind(&asked.agent)
        .bind(currency.unwrap_or_default())
        .bind(day_start(asked.now))
        .fetch_one(&mut *$conn)
        .await?
        .try_get(0)?;
        let state = match $judge(&made, spent) {
            Verdict::Within => OfferState::Recorded,
            Verdict::Approval(_) => OfferState::AwaitingApproval,
            Verdict::Refused(why) => return Ok(Recorded::Refused(why)),
        };
        let (currency, minor, percent) = match asked.amount {
            Amount::Money(money) => (money.currency.to_string(), money.minor, 0),
            Amount::Percent(percent) => (String::new(), 0, i64::from(percent)),
            Amount::Whole => (String::new(), 0, 0),
        };
        let id = new_id();
        let now = asked.now.timestamp_micros();
        sqlx::query(
            "INSERT INTO offers (offer_id, customer_id, problem, kind, currency, amount_minor, \
             percent, state, agent, request_id, client_key, recorded_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(asked.customer.get())
        .bind(&asked.problem)
        .bind(asked.kind.as_str())
        .bind(currency)
        .bind(minor)
        .bind(percent)
        .bind(state.as_str())
        .bind(&asked.agent)
        .bind(&asked.request_id)
        .bind(&asked.client_key)
        .bind(now)
        .execute(&mut *$conn)
        .await?;
        $($ordered;)?
        append_in!($conn, &id, state, &asked.agent, &asked.request_id, now);
        id
    }};
}

/// Appends a transition of `$id` to the ledger and marks the offer with its position.
macro_rules! append_in {
    ($conn:expr, $id:expr, $state:expr, $actor:expr, $request:expr, $now:expr) => {{
        let position: i64 = sqlx::query(
            "INSERT INTO offer_ledger (offer_id, state, actor, request_id, at_us) \
             VALUES ($1, $2, $3, $4, $5) RETURNING position",
        )
        .bind($id)
        .bind($state.as_str())
        .bind($actor)
        .bind($request)
        .bind($now)
        .fetch_one(&mut *$conn)
        .await?
        .try_get(0)?;
        sqlx::query("UPDATE offers SET position = $1 WHERE offer_id = $2")
            .bind(position)
            .bind($id)
            .execute(&mut *$conn)
            .await?;
    }};
}

/// Settles `$id` on `$conn` as `$state`, by `$actor`.
macro_rules! settle_in {
    ($conn:expr, $id:expr, $state:expr, $actor:expr, $request:expr, $now:expr $(, $ordered:expr)?) => {{
        let sql = format!("SELECT {COLUMNS} FROM offers o WHERE o.offer_id = $1");
        let found: Option<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind($id)
            .fetch_optional(&mut *$conn)
            .await?;
        let Some(offer) = found.and_then(OfferRow::offer) else {
            return Ok(Settled::NotFound);
        };
        if offer.state != OfferState::AwaitingApproval {
            return Ok(Settled::NotAwaiting(offer.state));
        }
        if offer.agent == $actor {
            return Ok(Settled::OwnOffer);
        }
        let now = $now.timestamp_micros();
        sqlx::query(
            "UPDATE offers SET state = $1, settled_by = $2, settled_us = $3 \
             WHERE offer_id = $4 AND state = 'awaiting_approval'",
        )
        .bind($state.as_str())
        .bind($actor)
        .bind(now)
        .bind($id)
        .execute(&mut *$conn)
        .await?;
        $($ordered;)?
        append_in!($conn, $id, $state, $actor, $request, now);
    }};
}

/// On Postgres, holds the ledger's lock until the transaction ends, taken just before an
/// entry is appended: positions are handed out and committed in one order, so a reader that
/// has read up to a position never sees a lower one commit after (SQLite has one writer).
/// Taken last, after the customer's and the agent's, so no two transactions wait on each
/// other.
macro_rules! ledger_in_order {
    ($conn:expr) => {
        sqlx::query(LOCK)
            .bind("offers/ledger")
            .execute(&mut *$conn)
            .await?
    };
}

/// A key for an advisory lock on `what` (`offers/customer/8`), in c360's own namespace of
/// text keys, apart from any integer key another part takes.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

impl OfferStore {
    /// The ledger in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records `asked` if `judge` — given the customer's offers that count and what the agent
    /// gave today in the offer's currency, read in the same transaction — lets it.
    pub async fn record(
        &self,
        asked: &Asked,
        judge: impl Fn(&[Offer], i64) -> Verdict,
    ) -> Result<Recorded, sqlx::Error> {
        match self.record_once(asked, judge).await {
            // The locks make this one writer at a time; the indexes stand behind them.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                let why = "another offer for this problem, or under this request id, was \
                           recorded at the same time: read the envelope again";
                Ok(Recorded::Refused(Refusal::Beyond(why.into())))
            }
            recorded => recorded,
        }
    }

    async fn record_once(
        &self,
        asked: &Asked,
        judge: impl Fn(&[Offer], i64) -> Verdict,
    ) -> Result<Recorded, sqlx::Error> {
        let id = match &self.db {
            Db::Postgres { pool, .. } => {
                let mut tx = pool.begin().await?;
                // The customer first, then the agent: every recording takes them in this
                // order, so none waits for one that waits for it.
                for what in [
                    format!("offers/customer/{}", asked.customer),
                    format!("offers/agent/{}", asked.agent),
                ] {
                    sqlx::query(LOCK).bind(what).execute(&mut *tx).await?;
                }
                let id = record_in!(tx, asked, judge, ledger_in_order!(tx));
                tx.commit().await?;
                id
            }
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let id = record_in!(tx, asked, judge);
                tx.commit().await?;
                id
            }
        };
        let recorded = self.get(&id).await?;
        Ok(recorded.map_or(
            Recorded::Refused(Refusal::Beyond("recorded, then lost".into())),
            Recorded::New,
        ))
    }

    /// Approves (`Approved`) or rejects (`Rejected`) the offer `id` awaiting approval, as
    /// `actor`, who did not make it.
    pub async fn settle(
        &self,
        id: &str,
        state: OfferState,
        actor: &str,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Settled, sqlx::Error> {
        match &self.db {
            Db::Postgres { pool, .. } => {
                let mut tx = pool.begin().await?;
                sqlx::query(LOCK)
                    .bind(format!("offers/offer/{id}"))
                    .execute(&mut *tx)
                    .await?;
                settle_in!(tx, id, state, actor, request_id, now, ledger_in_order!(tx));
                tx.commit().await?;
            }
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                settle_in!(tx, id, state, actor, request_id, now);
                tx.commit().await?;
            }
        }
        Ok(self.get(id).await?.map_or(Settled::NotFound, Settled::Done))
    }
}
