//! Merging the backends' answers into one profile: sorting them ([`collect`]), then deriving
//! from them and the catalog ([`Answers::profile`]).

use serde::{Deserialize, Serialize};

use super::{Profile, derive_insights, enrich_orders, insights::InsightInputs};
use crate::{
    core::fanout::{Failure, Outcome},
    core::records::{Billing, CrmRecord, OrderHistory, OrderRecord, OrderTotals, Shipment},
    core::reference::CatalogSnapshot,
    core::sources::SourceData,
    core::vocab::{Currency, CustomerId, SourceReports, SourceStatus, Timestamp},
};

/// What the answers add up to.
#[derive(Debug, Clone, PartialEq)]
pub enum Assembly {
    /// A profile; partial when some backend did not answer (its report says why).
    Profile(Box<Profile>),
    /// CRM, the system of record, does not know the customer.
    NotFound,
    /// No backend answered: there is nothing to serve.
    Unavailable,
}

/// What the backends answered for one customer, before anything is derived from the catalog.
/// A cached profile shows them all but the orders' totals ([`Unshown`], which it keeps), so
/// that a catalog change can be applied to it again without asking the backends (the entry
/// reads them back: `EncodedProfile::answers`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    customer: CustomerId,
    records: Records,
    sources: SourceReports,
}

/// The backends' records in [`Answers`].
#[derive(Debug, Clone, PartialEq, Default)]
struct Records {
    billing: Option<Billing>,
    history: Option<OrderHistory>,
    shipments: Option<Vec<Shipment>>,
    crm: Option<CrmRecord>,
}

/// The answers of a fan-out, sorted.
#[derive(Debug, Clone, PartialEq)]
pub enum Collected {
    /// Some backend answered.
    Answers(Box<Answers>),
    /// CRM does not know the customer.
    NotFound,
    /// No backend answered.
    Unavailable,
}

/// Sorts the `outcomes` of a fan-out for `customer` into its answers and reports.
pub fn collect(customer: CustomerId, outcomes: Vec<Outcome>) -> Collected {
    let mut sources = SourceReports::skipped();
    let mut records = Records::default();
    let mut answered = 0;
    for outcome in outcomes {
        let report = &mut sources[outcome.kind];
        report.latency = Some(outcome.latency);
        report.status = match outcome.result {
            Ok(_) => SourceStatus::Ok,
            Err(Failure::Timeout) => SourceStatus::Timeout,
            Err(Failure::Unavailable) => SourceStatus::Unavailable,
            Err(Failure::CircuitOpen) => SourceStatus::CircuitOpen,
        };
        let Ok(data) = outcome.result else { continue };
        answered += 1;
        report.fetched_at = Some(outcome.fetched_at);
        match data {
            SourceData::Billing(data) => records.billing = data,
            SourceData::Orders(data) => records.history = Some(data),
            SourceData::Fulfilment(data) => records.shipments = Some(data),
            SourceData::Crm(None) => return Collected::NotFound,
            SourceData::Crm(Some(data)) => records.crm = Some(data),
        }
    }
    if answered == 0 {
        return Collected::Unavailable;
    }
    Collected::Answers(Box::new(Answers {
        customer,
        records,
        sources,
    }))
}

impl Answers {
    /// The profile they make at `now`, orders enriched from `catalog`. Consumes them: the
    /// records move into the profile (take [`Self::unshown`] first to keep the rest).
    pub fn into_profile(self, catalog: &CatalogSnapshot, now: Timestamp) -> Profile {
        let Records {
            billing,
            history,
            shipments,
            crm,
        } = self.records;
        let (identity, interactions) = crm.map(|c| (c.identity, c.interactions)).unzip();
        let asked_everything = self
            .sources
            .iter()
            .all(|(_, r)| r.status != SourceStatus::Skipped);
        let (orders, insights) = match history {
            None => (None, None),
            Some(history) => {
                let orders = enrich_orders(history.recent, shipments.as_deref(), catalog, now);
                let insights = asked_everything.then(|| {
                    let inputs = InsightInputs {
                        identity: identity.as_ref(),
                        interactions: interactions.as_deref(),
                        billing: billing.as_ref(),
                        totals: history.totals,
                        currency: history
                            .currency
                            .or(billing.as_ref().map(|b| b.balance.currency)),
                        orders: &orders,
                        shipments: shipments.as_deref(),
                    };
                    derive_insights(inputs, now)
                });
                (Some(orders), insights)
            }
        };
        Profile {
            customer: self.customer,
            identity,
            billing,
            orders,
            shipments,
            interactions,
            insights,
            sources: self.sources,
        }
    }

    /// What of them a profile does not show: with the profile, enough to make them again.
    /// `None` without the orders' history.
    pub fn unshown(&self) -> Option<Unshown> {
        self.records.history.as_ref().map(|history| Unshown {
            totals: history.totals,
            currency: history.currency,
        })
    }

    /// The answers of `customer` made of these records, whose backends' reports are `sources`:
    /// how an entry's answers are read back from the sections it shows.
    pub fn from_records(
        customer: CustomerId,
        sources: SourceReports,
        crm: Option<CrmRecord>,
        billing: Option<Billing>,
        history: Option<OrderHistory>,
        shipments: Option<Vec<Shipment>>,
    ) -> Answers {
        Answers {
            customer,
            records: Records {
                billing,
                history,
                shipments,
                crm,
            },
            sources,
        }
    }

    /// The reports of the backends they come from.
    pub fn sources(&self) -> SourceReports {
        self.sources
    }
}

/// What the backends answered that a profile does not show: the orders' totals and their
/// currency, from which its insights are derived. A cached entry keeps these few bytes rather
/// than a second copy of its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unshown {
    totals: OrderTotals,
    currency: Option<Currency>,
}

impl Unshown {
    /// The orders' history they make with the `recent` orders a profile shows.
    pub fn history(self, recent: Vec<OrderRecord>) -> OrderHistory {
        OrderHistory {
            recent,
            totals: self.totals,
            currency: self.currency,
        }
    }

    /// Their bytes, as L2 keeps them.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Read back from [`Self::to_bytes`]; `None` if they are not such bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Merges the `outcomes` of a fan-out for `customer` at `now`, enriching orders from
/// `catalog`.
pub fn assemble(
    customer: CustomerId,
    outcomes: Vec<Outcome>,
    catalog: &CatalogSnapshot,
    now: Timestamp,
) -> Assembly {
    match collect(customer, outcomes) {
        Collected::Answers(answers) => {
            Assembly::Profile(Box::new(answers.into_profile(catalog, now)))
        }
        Collected::NotFound => Assembly::NotFound,
        Collected::Unavailable => Assembly::Unavailable,
    }
}

#[cfg(test)]
mod tests;
