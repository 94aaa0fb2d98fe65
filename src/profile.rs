//! A customer's profile: the domain model, the sections a read mask selects, and how the
//! backends' answers are merged, enriched from the catalog and turned into insights.

mod enrich;
mod insights;
mod merge;
mod model;
mod section;

#[cfg(test)]
pub(crate) mod fixtures;

use std::time::Duration;

pub use enrich::{delivery_of, enrich_orders};
pub use insights::derive_insights;
pub use merge::{Assembly, assemble};
pub use model::*;
pub use section::{MaskError, Section, SectionSet};

use crate::{
    keys::CustomerId,
    sources::{SourceKind, SourceSet},
};

/// How a backend answered for this profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// Answered.
    Ok,
    /// Did not answer; an older copy is served.
    Stale,
    /// Did not answer in time.
    Timeout,
    /// Failed.
    Unavailable,
    /// Not asked: circuit open.
    CircuitOpen,
    /// Not asked: not needed.
    Skipped,
}

/// What happened to one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceReport {
    /// The backend.
    pub source: SourceKind,
    /// How it went.
    pub status: SourceStatus,
    /// When its data was read.
    pub fetched_at: Option<Timestamp>,
    /// How long the read took.
    pub latency: Option<Duration>,
}

impl SourceReport {
    /// The report of a backend that was not asked.
    pub fn skipped(source: SourceKind) -> Self {
        Self {
            source,
            status: SourceStatus::Skipped,
            fetched_at: None,
            latency: None,
        }
    }
}

/// One report per backend, in [`SourceKind::ALL`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceReports([SourceReport; 4]);

impl SourceReports {
    /// No backend asked yet.
    pub fn skipped() -> Self {
        Self(SourceKind::ALL.map(SourceReport::skipped))
    }

    /// Every report, in [`SourceKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = &SourceReport> {
        self.0.iter()
    }

    /// The backends that were asked.
    pub fn asked(&self) -> SourceSet {
        self.iter()
            .filter(|r| r.status != SourceStatus::Skipped)
            .fold(SourceSet::EMPTY, |set, r| {
                set.union(SourceSet::of(&[r.source]))
            })
    }

    /// Every backend that was asked answered just now.
    pub fn is_complete(&self) -> bool {
        self.iter()
            .all(|r| matches!(r.status, SourceStatus::Ok | SourceStatus::Skipped))
    }

    /// The report of `source` as a caller that asked for `sections` should see it: backends
    /// its sections did not need are `Skipped`, whatever the cached entry holds.
    pub fn report_for(&self, source: SourceKind, sections: SectionSet) -> SourceReport {
        if sections.sources().contains(source) {
            self[source]
        } else {
            SourceReport::skipped(source)
        }
    }
}

impl std::ops::Index<SourceKind> for SourceReports {
    type Output = SourceReport;

    fn index(&self, kind: SourceKind) -> &SourceReport {
        &self.0[kind.index()]
    }
}

impl std::ops::IndexMut<SourceKind> for SourceReports {
    fn index_mut(&mut self, kind: SourceKind) -> &mut SourceReport {
        &mut self.0[kind.index()]
    }
}

/// A merged profile. A section is `None` when its backends were not asked or did not answer;
/// `sources` says which.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Whose.
    pub customer: CustomerId,
    /// From CRM.
    pub identity: Option<Identity>,
    /// From billing.
    pub billing: Option<Billing>,
    /// From orders, enriched with the catalog and fulfilment.
    pub orders: Option<Vec<Order>>,
    /// From fulfilment.
    pub shipments: Option<Vec<Shipment>>,
    /// From CRM.
    pub interactions: Option<Vec<Interaction>>,
    /// Derived from all four.
    pub insights: Option<Insights>,
    /// What happened to each backend.
    pub sources: SourceReports,
}
