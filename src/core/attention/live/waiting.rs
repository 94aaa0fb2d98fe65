//! The line of customers waiting to be derived.

use std::collections::{BTreeSet, HashSet, VecDeque};

use crate::core::vocab::CustomerId;

/// The customers waiting to be derived: those changes and deadlines name first, in the order
/// they came, each once; then a build's (one of which a change names goes first). One being
/// derived that changes again is derived again after.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    urgent: VecDeque<CustomerId>,
    in_urgent: HashSet<CustomerId>,
    later: VecDeque<CustomerId>,
    in_later: HashSet<CustomerId>,
    busy: HashSet<CustomerId>,
    /// Those being derived that a build found.
    building: HashSet<CustomerId>,
    again: HashSet<CustomerId>,
}

impl Waiting {
    pub(super) fn urgent(&mut self, customer: CustomerId) {
        if self.busy.contains(&customer) {
            self.again.insert(customer);
        } else if self.in_urgent.insert(customer) {
            self.urgent.push_back(customer);
        }
    }

    pub(super) fn later(&mut self, customers: BTreeSet<CustomerId>) {
        for customer in customers {
            if self.busy.contains(&customer) {
                self.again.insert(customer);
            } else if !self.in_urgent.contains(&customer) && self.in_later.insert(customer) {
                self.later.push_back(customer);
            }
        }
    }

    /// The next to derive, now marked busy.
    pub(super) fn next(&mut self) -> Option<CustomerId> {
        let (customer, found) = match self.urgent.pop_front() {
            Some(customer) => {
                self.in_urgent.remove(&customer);
                // Its place in the build's line, if any, is left behind and passed over.
                (customer, self.in_later.remove(&customer))
            }
            None => loop {
                let customer = self.later.pop_front()?;
                if self.in_later.remove(&customer) {
                    break (customer, true);
                }
            },
        };
        if found {
            self.building.insert(customer);
        }
        self.busy.insert(customer);
        Some(customer)
    }

    /// `customer` derived; whether that was the last a build found.
    pub(super) fn done(&mut self, customer: CustomerId) -> bool {
        self.busy.remove(&customer);
        if self.again.remove(&customer) {
            self.urgent(customer);
        }
        self.building.remove(&customer) && self.building.is_empty() && self.in_later.is_empty()
    }
}
