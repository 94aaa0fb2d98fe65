//! Merging the backends' answers into one profile.

use super::{Profile, derive_insights, enrich_orders, insights::InsightInputs};
use crate::{
    fanout::{Failure, Outcome},
    reference::CatalogSnapshot,
    sources::SourceData,
    vocab::{CustomerId, SourceReports, SourceStatus, Timestamp},
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

/// Merges the `outcomes` of a fan-out for `customer` at `now`, enriching orders from
/// `catalog`.
pub fn assemble(
    customer: CustomerId,
    outcomes: Vec<Outcome>,
    catalog: &CatalogSnapshot,
    now: Timestamp,
) -> Assembly {
    let mut sources = SourceReports::skipped();
    let (mut billing, mut history, mut shipments, mut crm) = (None, None, None, None);
    let mut answered = 0;
    for outcome in outcomes {
        let report = &mut sources[outcome.kind];
        report.latency = Some(outcome.latency);
        report.status = match outcome.result {
            Ok(_) => SourceStatus::Ok,
            Err(Failure::Timeout) => SourceStatus::Timeout,
            Err(Failure::Unavailable) => SourceStatus::Unavailable,
        };
        let Ok(data) = outcome.result else { continue };
        answered += 1;
        report.fetched_at = Some(outcome.fetched_at);
        match data {
            SourceData::Billing(data) => billing = Some(data),
            SourceData::Orders(data) => history = Some(data),
            SourceData::Fulfilment(data) => shipments = Some(data),
            SourceData::Crm(None) => return Assembly::NotFound,
            SourceData::Crm(Some(data)) => crm = Some(data),
        }
    }
    if answered == 0 {
        return Assembly::Unavailable;
    }
    let billing = billing.flatten();
    let (identity, interactions) = crm.map(|c| (c.identity, c.interactions)).unzip();
    let asked_everything = sources
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
    Assembly::Profile(Box::new(Profile {
        customer,
        identity,
        billing,
        orders,
        shipments,
        interactions,
        insights,
        sources,
    }))
}

#[cfg(test)]
mod tests;
