//! What a cached profile shows, read back into the answers it was made of: with the order
//! totals it keeps beside it ([`Unshown`]), all that a catalog change needs to enrich the entry
//! again without asking the backends.

use c360_proto as pb;
use prost::Message;

use super::EncodedProfile;
use crate::{
    core::convert::back,
    core::profile::{Answers, Unshown},
    core::records::CrmRecord,
};

impl EncodedProfile {
    /// The sections, decoded; `None` if they do not decode.
    pub fn shown(&self) -> Option<pb::CustomerProfile> {
        pb::CustomerProfile::decode(&self.body[..self.sections_end as usize]).ok()
    }

    /// What the backends answered, read back from the sections, with `unshown` (which it
    /// needs when it has orders). `None` when some of it is a stale stand-in (not what they
    /// answered), when it has orders and their totals are not known (an entry a replica of an
    /// older version put in L2), or when anything in it is not what this version writes.
    pub fn answers(&self, unshown: Option<Unshown>) -> Option<Answers> {
        if self.sources.has_stale() {
            return None;
        }
        let shown = self.shown()?;
        let crm = match (&shown.identity, &shown.interactions) {
            (None, None) => None,
            (Some(identity), Some(interactions)) => Some(CrmRecord {
                identity: back::identity(identity)?,
                interactions: back::interactions(interactions)?,
            }),
            _ => return None,
        };
        let history = match &shown.orders {
            None => None,
            Some(orders) => Some(unshown?.history(back::orders(orders)?)),
        };
        Some(Answers::from_records(
            self.customer,
            self.sources,
            crm,
            read_back(shown.billing.as_ref(), back::billing)?,
            history,
            read_back(shown.shipments.as_ref(), back::shipments)?,
        ))
    }
}

/// `section` read back by `read`: `Some(None)` when absent, `None` when unreadable.
fn read_back<W, T>(section: Option<&W>, read: impl Fn(&W) -> Option<T>) -> Option<Option<T>> {
    match section {
        None => Some(None),
        Some(section) => read(section).map(Some),
    }
}
