//! Per-customer generations: an invalidation bumps the customer's generation, and a load
//! whose generation changed while it ran is not cached, so that an invalidation racing a load
//! always wins. Customers share striped slots: a collision only costs a load that is not
//! cached, never a stale entry.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::vocab::CustomerId;

const SLOTS: usize = 1 << 16;

/// A customer's generation at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    epoch: u64,
    slot: u64,
}

/// The generations of every customer.
#[derive(Debug)]
pub struct Generations {
    /// Bumped by a flush: every customer's generation changes at once.
    epoch: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            epoch: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn slot(customer: CustomerId) -> usize {
    // Fibonacci hashing spreads consecutive ids over the slots.
    (customer.get() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize >> (64 - 16)
}

impl Generations {
    /// The generation of `customer` now.
    pub fn current(&self, customer: CustomerId) -> Generation {
        // SeqCst: a bump that happened before a load read its generation must be seen.
        Generation {
            epoch: self.epoch.load(Ordering::SeqCst),
            slot: self.slots[slot(customer)].load(Ordering::SeqCst),
        }
    }

    /// Moves `customer` to a new generation.
    pub fn bump(&self, customer: CustomerId) {
        self.slots[slot(customer)].fetch_add(1, Ordering::SeqCst);
    }

    /// Moves every customer to a new generation.
    pub fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> CustomerId {
        CustomerId::new(n).expect("positive")
    }

    #[test]
    fn a_bump_changes_that_customers_generation_and_a_flush_changes_everyones() {
        let generations = Generations::default();
        let (a, b) = (generations.current(id(1)), generations.current(id(2)));
        generations.bump(id(1));
        assert_ne!(generations.current(id(1)), a);
        assert_eq!(generations.current(id(2)), b);
        generations.bump_all();
        assert_ne!(generations.current(id(2)), b);
    }

    #[test]
    fn consecutive_ids_land_in_different_slots() {
        let slots: std::collections::HashSet<_> = (1..=1000).map(|n| slot(id(n))).collect();
        assert_eq!(slots.len(), 1000);
    }
}
