//! Per-customer generations: an invalidation bumps the customer's generation, and an entry is
//! served only while the generation it was loaded under is still current, so that an
//! invalidation racing a load always wins — whether it lands before the load's insert or
//! after it. Customers share striped slots: a collision only costs a miss, never a stale
//! entry. 2^20 slots (4 MiB) keep collisions rare: with 100,000 customers cached, one
//! invalidation drops another customer's entry one time in ten.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::core::vocab::CustomerId;

const SLOT_BITS: u32 = 20;
const SLOTS: usize = 1 << SLOT_BITS;

/// A customer's generation at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    epoch: u32,
    slot: u32,
}

/// The generations of every customer.
#[derive(Debug)]
pub struct Generations {
    /// Bumped by a flush: every customer's generation changes at once.
    epoch: AtomicU32,
    slots: Box<[AtomicU32]>,
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            epoch: AtomicU32::new(0),
            slots: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

fn slot(customer: CustomerId) -> usize {
    // Fibonacci hashing spreads consecutive ids over the slots.
    ((customer.get() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as usize
}

impl Generations {
    /// The generation of `customer` now. (Wrapping is harmless: an entry would have to
    /// outlive 2^32 bumps of its slot.)
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
