//! Customers that changed, each with the backends whose tables changed: what a change feed
//! read, what a logical leader has not published yet, what waits to be derived.

use std::collections::BTreeMap;

use crate::core::vocab::{CustomerId, SourceSet};

/// Customers, each with the backends whose tables changed (their union, however many
/// changes named the customer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes(BTreeMap<CustomerId, SourceSet>);

impl Changes {
    /// `customers`, each changed in every backend for all that is known.
    pub fn every_backend(customers: &[CustomerId]) -> Self {
        Self(customers.iter().map(|c| (*c, SourceSet::ALL)).collect())
    }

    /// `customer` changed in `sources`' tables; whether it was not named before.
    pub fn add(&mut self, customer: CustomerId, sources: SourceSet) -> bool {
        match self.0.get_mut(&customer) {
            Some(kept) => {
                *kept = kept.union(sources);
                false
            }
            None => {
                self.0.insert(customer, sources);
                true
            }
        }
    }

    /// Every change of `other` too.
    pub fn merge(&mut self, other: Changes) {
        for (customer, sources) in other.0 {
            self.add(customer, sources);
        }
    }

    /// The backends `customer` changed in, taken out.
    pub fn remove(&mut self, customer: CustomerId) -> Option<SourceSet> {
        self.0.remove(&customer)
    }

    /// Whether `customer` is named.
    pub fn contains(&self, customer: CustomerId) -> bool {
        self.0.contains_key(&customer)
    }

    /// Whether no customer is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many customers are named.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Names none any more.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The customers, in id order.
    pub fn customers(&self) -> Vec<CustomerId> {
        self.0.keys().copied().collect()
    }

    /// Each customer and its backends, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (CustomerId, SourceSet)> + '_ {
        self.0
            .iter()
            .map(|(customer, sources)| (*customer, *sources))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::vocab::SourceKind;

    #[test]
    fn a_customer_named_again_keeps_the_union_of_its_backends() {
        let id = |n| CustomerId::new(n).unwrap();
        let crm = SourceSet::of(&[SourceKind::Crm]);
        let orders = SourceSet::of(&[SourceKind::Orders]);
        let mut changes = Changes::default();
        assert!(changes.add(id(2), crm));
        assert!(!changes.add(id(2), orders));
        let mut more = Changes::default();
        more.add(id(1), orders);
        more.add(id(2), crm);
        changes.merge(more);
        assert_eq!(
            changes.iter().collect::<Vec<_>>(),
            [(id(1), orders), (id(2), crm.union(orders))]
        );
        assert_eq!(changes.remove(id(2)), Some(crm.union(orders)));
        assert!(!changes.contains(id(2)));
        assert_eq!(changes.customers(), [id(1)]);
        assert_eq!(
            Changes::every_backend(&[id(3)]).iter().collect::<Vec<_>>(),
            [(id(3), SourceSet::ALL)]
        );
    }
}
