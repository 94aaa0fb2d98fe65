//! The queue built where nothing was derived yet — a first start, a database filled while
//! c360 was away, changes missed — without reading every customer: indexed queries to the
//! backends find the customers who hold something that is, or may become by time alone, a
//! reason for contact (a parcel not delivered, a recent failed payment, an interaction still
//! open, recent contacts, a recent rating), and only those are derived. Each statement is
//! served by an index of the reference schema (`0007_attention_backlog.sql`).

use std::collections::BTreeSet;

use super::items::Rules;
use crate::core::{
    db::{Bind, Db},
    sources::FAILED_PAYMENTS_WINDOW,
    vocab::{CustomerId, Timestamp},
};

/// Fulfilment: a parcel not delivered (late now, or later by time alone).
const UNDELIVERED: &str = "SELECT DISTINCT customer_id FROM shipments WHERE delivered_at IS NULL";

/// Billing: a payment that failed within the window.
const FAILED: &str = "SELECT DISTINCT customer_id FROM invoices \
     WHERE status = 'payment_failed' AND failed_at >= $1";

/// CRM: an interaction still open, enough contacts within the repeat period, a rating within
/// the follow-up period.
const INTERACTIONS: &str = "SELECT customer_id FROM interactions \
     WHERE status IN ('open', 'pending') \
     UNION SELECT customer_id FROM interactions WHERE created_at > $1 \
     GROUP BY customer_id HAVING COUNT(*) >= $2 \
     UNION SELECT customer_id FROM interactions \
     WHERE csat IS NOT NULL AND updated_at > $3 AND csat <= $4";

/// The backends' databases the queue is built from.
#[derive(Debug, Clone)]
pub struct Backlog {
    /// Fulfilment's.
    pub fulfilment: Db,
    /// Billing's.
    pub billing: Db,
    /// CRM's.
    pub crm: Db,
}

impl Backlog {
    /// The customers whose items may not be empty at `now` or later by time alone, under
    /// `rules`: a superset of those the queue holds, each found by an index.
    pub async fn customers(
        &self,
        rules: &Rules,
        now: Timestamp,
    ) -> Result<BTreeSet<CustomerId>, sqlx::Error> {
        let (contacts, within) = rules.repeat();
        let (low, rated_within) = rules.low_rating();
        let interactions = [
            Bind::Time(now - within),
            Bind::Int(contacts as i64),
            Bind::Time(now - rated_within),
            Bind::Int(i64::from(low)),
        ];
        let failed = [Bind::Time(now - FAILED_PAYMENTS_WINDOW)];
        let (parcels, payments, contacts) = futures::try_join!(
            self.fulfilment.fetch_all::<(i64,)>(UNDELIVERED, &[]),
            self.billing.fetch_all::<(i64,)>(FAILED, &failed),
            self.crm.fetch_all::<(i64,)>(INTERACTIONS, &interactions),
        )?;
        Ok(parcels
            .into_iter()
            .chain(payments)
            .chain(contacts)
            .filter_map(|(id,)| CustomerId::new(id))
            .collect())
    }
}
