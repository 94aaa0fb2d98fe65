//! What a cached profile says of a customer now, as attention items are derived from it: the
//! sections whose backends answered for it, read back into their records. A stale stand-in
//! says nothing of the present, so a section served stale counts as not answered.

use c360_proto as pb;

use super::items::Inputs;
use crate::core::{
    convert::back,
    entry::EncodedProfile,
    records::{Billing, Interaction, Shipment, Tier},
    vocab::{SourceKind, SourceStatus},
};

/// The records items are derived from, each `None` where its backend did not answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answered {
    /// Fulfilment's recent shipments.
    pub shipments: Option<Vec<Shipment>>,
    /// Billing.
    pub billing: Option<Billing>,
    /// CRM's recent interactions.
    pub interactions: Option<Vec<Interaction>>,
    /// The customer's tier, as CRM knows it.
    pub tier: Option<Tier>,
}

impl Answered {
    /// What `shown`, the decoded sections of `encoded`, holds that its backends answered.
    pub fn read_back(encoded: &EncodedProfile, shown: &pb::CustomerProfile) -> Self {
        let answered = |kind| encoded.sources()[kind].status == SourceStatus::Ok;
        let crm = answered(SourceKind::Crm);
        Self {
            shipments: (shown.shipments.as_ref())
                .filter(|_| answered(SourceKind::Fulfilment))
                .and_then(back::shipments),
            billing: (shown.billing.as_ref())
                .filter(|_| answered(SourceKind::Billing))
                .and_then(back::billing),
            interactions: (shown.interactions.as_ref())
                .filter(|_| crm)
                .and_then(|i: &pb::Interactions| back::interactions(i)),
            tier: (shown.identity.as_ref())
                .filter(|_| crm)
                .and_then(back::identity)
                .map(|identity| identity.tier),
        }
    }

    /// The same, as [`super::derive`] takes it.
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            shipments: self.shipments.as_deref(),
            billing: self.billing.as_ref(),
            interactions: self.interactions.as_deref(),
            tier: self.tier,
        }
    }
}
