//! The line of customers waiting to be derived.

use std::collections::{BTreeSet, HashSet, VecDeque};

use crate::core::{
    cache::Changes,
    vocab::{CustomerId, SourceSet},
};

/// The customers waiting to be derived: those changes and deadlines name first, in the order
/// they came, each once, with the backends whose tables changed since it was last taken; then
/// a build's (one of which a change names goes first), in every backend. One being derived
/// that changes again is derived again after.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    urgent: VecDeque<CustomerId>,
    in_urgent: Changes,
    later: VecDeque<CustomerId>,
    in_later: HashSet<CustomerId>,
    busy: HashSet<CustomerId>,
    /// Those being derived that a build found.
    building: HashSet<CustomerId>,
    again: Changes,
}

impl Waiting {
    /// `customer` changed in `sources`' tables, or is due (in every backend).
    pub(super) fn urgent(&mut self, customer: CustomerId, sources: SourceSet) {
        if self.busy.contains(&customer) {
            self.again.add(customer, sources);
        } else if self.in_urgent.add(customer, sources) {
            self.urgent.push_back(customer);
        }
    }

    pub(super) fn later(&mut self, customers: BTreeSet<CustomerId>) {
        for customer in customers {
            if self.busy.contains(&customer) {
                self.again.add(customer, SourceSet::ALL);
            } else if !self.in_urgent.contains(customer) && self.in_later.insert(customer) {
                self.later.push_back(customer);
            }
        }
    }

    /// The next to derive, now marked busy: whether only a build asked for it (work that
    /// may wait for a place), and the backends whose tables changed. A build's only while
    /// `builds` is true.
    pub(super) fn next(&mut self, builds: bool) -> Option<Taken> {
        let taken = match self.urgent.pop_front() {
            Some(customer) => {
                let changed = self.in_urgent.remove(customer).unwrap_or(SourceSet::ALL);
                // Its place in the build's line, if any, is left behind and passed over.
                let found = self.in_later.remove(&customer);
                Taken {
                    customer,
                    found,
                    only_built: false,
                    changed: if found { SourceSet::ALL } else { changed },
                }
            }
            None if builds => loop {
                let customer = self.later.pop_front()?;
                if self.in_later.remove(&customer) {
                    break Taken {
                        customer,
                        found: true,
                        only_built: true,
                        changed: SourceSet::ALL,
                    };
                }
            },
            None => return None,
        };
        if taken.found {
            self.building.insert(taken.customer);
        }
        self.busy.insert(taken.customer);
        Some(taken)
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
        if let Some(sources) = self.again.remove(customer) {
            self.urgent(customer, sources);
        }
    }

    /// `customer` derived; whether that was the last a build found.
    pub(super) fn done(&mut self, customer: CustomerId) -> bool {
        self.busy.remove(&customer);
        if let Some(sources) = self.again.remove(customer) {
            self.urgent(customer, sources);
        }
        self.building.remove(&customer) && self.building.is_empty() && self.in_later.is_empty()
    }
}

/// A customer taken from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Taken {
    pub(super) customer: CustomerId,
    /// A build found it.
    found: bool,
    /// Only a build asked for it: work that may wait for a place.
    pub(super) only_built: bool,
    /// The backends whose tables changed (every backend for a build, a deadline, a retry).
    pub(super) changed: SourceSet,
}
