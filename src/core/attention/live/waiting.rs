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

    /// The next to derive, now marked busy, and whether only a build asked for it (work that
    /// may wait for a place). A build's only while `builds` is true.
    pub(super) fn next(&mut self, builds: bool) -> Option<(CustomerId, bool)> {
        let (customer, found, only_built) = match self.urgent.pop_front() {
            Some(customer) => {
                self.in_urgent.remove(&customer);
                // Its place in the build's line, if any, is left behind and passed over.
                (customer, self.in_later.remove(&customer), false)
            }
            None if builds => loop {
                let customer = self.later.pop_front()?;
                if self.in_later.remove(&customer) {
                    break (customer, true, true);
                }
            },
            None => return None,
        };
        if found {
            self.building.insert(customer);
        }
        self.busy.insert(customer);
        Some((customer, only_built))
    }

    /// Whether a build's customers wait.
    pub(super) fn builds(&self) -> bool {
        !self.in_later.is_empty()
    }

    /// `customer`, a build's, was not derived (there was no place for it): first in the
    /// build's line again.
    pub(super) fn put_back(&mut self, customer: CustomerId) {
        self.busy.remove(&customer);
        self.building.remove(&customer);
        if self.in_later.insert(customer) {
            self.later.push_front(customer);
        }
        if self.again.remove(&customer) {
            self.urgent(customer);
        }
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
