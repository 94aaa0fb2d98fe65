//! The queue as agents read it: a page of open items, filtered, from where the last page
//! ended (keyset paging over the queue's index, so a deep page costs what the first does);
//! and the transitions recorded after a point, each with its item as it is now — what a
//! watch streams.

use super::{Kept, Reason, Store, Timestamp, micros};
use crate::core::{attention::QueueNow, db::Bind, records::Tier};

/// Which open items a list or a watch shows; every one when nothing is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these reasons; any when empty.
    pub reasons: Vec<Reason>,
    /// Only customers of these tiers; any when empty.
    pub tiers: Vec<Tier>,
    /// Only claimed items, or only unclaimed ones; both when `None`.
    pub claimed: Option<bool>,
}

impl Filter {
    /// Whether `kept` is in the view at `now`: open, and matching.
    pub fn shows(&self, kept: &Kept, now: Timestamp) -> bool {
        let reason =
            self.reasons.is_empty() || self.reasons.iter().any(|r| r.as_str() == kept.reason);
        let tier = self.tiers.is_empty() || self.tiers.iter().any(|t| t.as_str() == kept.tier);
        let claimed = self.claimed.is_none_or(|claimed| claimed == kept.held(now));
        kept.state == "open" && reason && tier && claimed
    }
}

/// Where a page ends: the last item's place in the queue's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Its due instant (Unix µs).
    pub due_us: i64,
    /// Its customer.
    pub customer_id: i64,
    /// Its reason.
    pub reason: String,
    /// Its cause.
    pub cause: String,
}

impl Position {
    /// The place of `kept`.
    pub fn of(kept: &Kept) -> Self {
        Self {
            due_us: kept.due_us,
            customer_id: kept.customer_id,
            reason: kept.reason.clone(),
            cause: kept.cause.clone(),
        }
    }
}

/// A transition recorded in the history, with its item as it is now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Recorded {
    /// Its place in the history: every later transition has a higher one.
    pub id: i64,
    /// `created`, `claimed`, …
    pub transition: String,
    /// Who made it.
    pub actor: String,
    /// The item now.
    #[sqlx(flatten)]
    pub item: Kept,
}

impl Kept {
    /// Whether an agent holds it at `now` (a lapsed lease holds nothing, given back or not).
    pub fn held(&self, now: Timestamp) -> bool {
        self.claimed_by.is_some() && self.lease_until_us.is_some_and(|until| until > micros(now))
    }
}

/// `,a,b,`: a set bound as one text, which `LIKE '%,x,%'` tests; empty for any.
fn set<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.is_empty() {
        true => String::new(),
        false => format!(",{},", names.join(",")),
    }
}

impl Store {
    /// At most `limit` open items that `filter` shows, earliest due first, after `after`.
    pub async fn page(
        &self,
        filter: &Filter,
        after: Option<&Position>,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<Kept>, sqlx::Error> {
        let start = Position {
            due_us: i64::MIN,
            customer_id: i64::MIN,
            reason: String::new(),
            cause: String::new(),
        };
        let after = after.unwrap_or(&start);
        let claimed = filter.claimed.map_or(-1, i64::from);
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    kept_columns!(""),
                    " FROM attention_items WHERE state = 'open' \
                     AND (due_us > $1 OR (due_us = $1 AND (customer_id > $2 \
                     OR (customer_id = $2 AND (reason > $3 OR (reason = $3 AND cause > $4)))))) \
                     AND ($5 = '' OR $5 LIKE ('%,' || reason || ',%')) \
                     AND ($6 = '' OR $6 LIKE ('%,' || tier || ',%')) \
                     AND ($7 < 0 OR ($7 = 1) = (claimed_by IS NOT NULL AND lease_until_us > $8)) \
                     ORDER BY due_us, customer_id, reason, cause LIMIT $9"
                ),
                &[
                    Bind::Int(after.due_us),
                    Bind::Int(after.customer_id),
                    Bind::Text(after.reason.clone()),
                    Bind::Text(after.cause.clone()),
                    Bind::Text(set(filter.reasons.iter().map(|r| r.as_str()))),
                    Bind::Text(set(filter.tiers.iter().map(|t| t.as_str()))),
                    Bind::Int(claimed),
                    Bind::Int(micros(now)),
                    Bind::Int(limit),
                ],
            )
            .await
    }

    /// At most `limit` transitions recorded after `id`, in the order recorded.
    pub async fn recorded_after(&self, id: i64, limit: i64) -> Result<Vec<Recorded>, sqlx::Error> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT h.id, h.transition, h.actor, ",
                    kept_columns!("i."),
                    " FROM attention_history h JOIN attention_items i \
                     ON i.customer_id = h.customer_id AND i.reason = h.reason \
                     AND i.cause = h.cause WHERE h.id > $1 ORDER BY h.id LIMIT $2"
                ),
                &[Bind::Int(id), Bind::Int(limit)],
            )
            .await
    }

    /// The last transition recorded; 0 before the first.
    pub async fn last_recorded(&self) -> Result<i64, sqlx::Error> {
        let (last,): (i64,) = self
            .db
            .fetch_optional(
                "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM attention_history",
                &[],
            )
            .await?
            .unwrap_or((0,));
        Ok(last)
    }
}

impl Store {
    /// The open items by reason, and the oldest unclaimed one, now.
    pub async fn queue_now(&self) -> Result<QueueNow, sqlx::Error> {
        let rows: Vec<(String, i64, i64, Option<i64>)> = self
            .db
            .fetch_all(
                "SELECT reason, CAST(COUNT(*) AS BIGINT), \
                 CAST(SUM(CASE WHEN claimed_by IS NULL OR lease_until_us <= $1 THEN 1 ELSE 0 END) \
                 AS BIGINT), \
                 MIN(CASE WHEN claimed_by IS NULL OR lease_until_us <= $1 THEN due_us END) \
                 FROM attention_items WHERE state = 'open' GROUP BY reason",
                &[Bind::Int(chrono::Utc::now().timestamp_micros())],
            )
            .await?;
        let mut now = QueueNow::default();
        for (reason, open, unclaimed, oldest) in rows {
            if let Some(at) = Reason::ALL.iter().position(|r| r.as_str() == reason) {
                now.open[at] = open.max(0).unsigned_abs();
            }
            now.unclaimed += unclaimed.max(0).unsigned_abs();
            let due = oldest.and_then(Timestamp::from_timestamp_micros);
            now.oldest_unclaimed_due = match (now.oldest_unclaimed_due, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(now)
    }
}
