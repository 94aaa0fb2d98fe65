//! The ledger's rows, as both databases return them, and the offers they hold.

use sqlx::FromRow;

use crate::core::{
    offers::{Amount, Offer, OfferKind, OfferState},
    vocab::{Currency, CustomerId, Money, Timestamp},
};

/// An offer's row.
#[derive(Debug, FromRow)]
pub(super) struct OfferRow {
    offer_id: String,
    customer_id: i64,
    problem: String,
    kind: String,
    currency: String,
    amount_minor: i64,
    percent: i64,
    state: String,
    agent: String,
    request_id: String,
    recorded_us: i64,
    settled_by: Option<String>,
    settled_us: Option<i64>,
    position: i64,
}

/// The columns of a [`OfferRow`], of the table `o`.
pub(super) const COLUMNS: &str = "o.offer_id, o.customer_id, o.problem, o.kind, o.currency, \
    o.amount_minor, o.percent, o.state, o.agent, o.request_id, o.recorded_us, o.settled_by, \
    o.settled_us, o.position";

/// A ledger entry's row: its own columns, and its offer's.
#[derive(Debug, FromRow)]
pub(super) struct EntryRow {
    pub(super) entry_position: i64,
    pub(super) entry_state: String,
    pub(super) entry_actor: String,
    pub(super) entry_us: i64,
    #[sqlx(flatten)]
    pub(super) offer: OfferRow,
}

pub(super) fn at(us: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl OfferRow {
    /// The offer it holds; `None` for a row this version would not have written.
    pub(super) fn offer(self) -> Option<Offer> {
        let kind = OfferKind::parse(&self.kind)?;
        let amount = match kind {
            OfferKind::Refund | OfferKind::GoodwillCredit => {
                let currency: Currency = self.currency.parse().ok()?;
                Amount::Money(Money::new(currency, self.amount_minor))
            }
            OfferKind::Discount => Amount::Percent(u32::try_from(self.percent).ok()?),
            OfferKind::FreeShipping => Amount::Whole,
        };
        Some(Offer {
            id: self.offer_id,
            customer: CustomerId::new(self.customer_id)?,
            problem: self.problem,
            kind,
            amount,
            state: OfferState::parse(&self.state)?,
            agent: self.agent,
            request_id: self.request_id,
            recorded_at: at(self.recorded_us),
            settled_by: self.settled_by,
            settled_at: self.settled_us.map(at),
            position: self.position,
        })
    }
}

pub(super) fn offers(rows: Vec<OfferRow>) -> Vec<Offer> {
    rows.into_iter().filter_map(OfferRow::offer).collect()
}

/// A new offer's id: 128 random bits in hex, never reused (the ledger keeps every one).
pub(super) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The start of `now`'s UTC day, in µs: the budget's day.
pub(super) fn day_start(now: Timestamp) -> i64 {
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
    midnight.and_utc().timestamp_micros()
}

/// What an agent gave since a day's start (`$3`, µs) in a currency (`$2`), in offers that
/// count: the budget's spending.
pub(super) const SPENT_SINCE: &str = "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) \
    FROM offers WHERE agent = $1 AND currency = $2 AND recorded_us >= $3 AND state <> 'rejected'";

/// A customer's (`$1`) offers that count, oldest first.
pub(super) fn counting_of_customer() -> String {
    format!(
        "SELECT {COLUMNS} FROM offers o WHERE o.customer_id = $1 AND o.state <> 'rejected' \
         ORDER BY o.recorded_us"
    )
}
