//! Merging the backends' answers into one profile: sorting them ([`collect`]), then deriving
//! from them and the catalog ([`Answers::profile`]).

use serde::{Deserialize, Serialize};

use super::{Profile, derive_insights, enrich_orders, insights::InsightInputs};
use crate::{
    core::fanout::{Failure, Outcome},
    core::records::{Billing, CrmRecord, OrderHistory, Shipment},
    core::reference::CatalogSnapshot,
    core::sources::SourceData,
    core::vocab::{CustomerId, SourceReports, SourceStatus, Timestamp},
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

/// What the backends answered for one customer, before anything is derived from the catalog:
/// what a cached profile keeps, so that a catalog change can be applied to it again without
/// asking the backends.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    customer: CustomerId,
    records: Records,
    sources: SourceReports,
}

/// The backends' records in [`Answers`]: what is packed (the customer and the reports are a
/// cached entry's own).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// records move into the profile (pack them first to keep them).
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

    /// Packs the records; `None` if they cannot be (they always can: plain data).
    pub fn pack(&self) -> Option<PackedAnswers> {
        let bytes = postcard::to_allocvec(&self.records).ok()?;
        Some(PackedAnswers(bytes.into_boxed_slice()))
    }

    /// The reports of the backends they come from.
    pub fn sources(&self) -> SourceReports {
        self.sources
    }
}

/// [`Answers`] packed small (postcard), as a cached entry keeps them: the records only, since
/// the customer and the reports are the entry's own. Unpacked only when the catalog changed.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedAnswers(Box<[u8]>);

impl PackedAnswers {
    /// Packed answers as [`Self::as_bytes`] gave them (checked when unpacked).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// The packed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds nothing (never, for packed answers).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The answers of `customer`, whose backends' reports are `sources`.
    pub fn unpack(&self, customer: CustomerId, sources: SourceReports) -> Option<Answers> {
        let records = postcard::from_bytes(&self.0).ok()?;
        Some(Answers {
            customer,
            records,
            sources,
        })
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
