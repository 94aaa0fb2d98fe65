//! The watch streams a replica keeps open: at most `total` in all, and at most `per_caller`
//! for any one caller, so that one caller cannot take every slot from the others. A slot is
//! held by its stream's task and given back when the task ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::edge::grpc::status::ApiError;

/// What a caller over its share is told it ran out of (the replica's own limit says
/// `watch streams`).
pub(in crate::edge::grpc) const PER_CALLER: &str = "watch streams for one caller";

/// See the module's documentation.
#[derive(Debug)]
pub(crate) struct WatchSlots {
    total: usize,
    per_caller: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    all: usize,
    by_caller: HashMap<Arc<str>, usize>,
}

/// One open watch, of `caller` when authentication names one.
#[derive(Debug)]
pub(in crate::edge::grpc) struct Slot {
    slots: Arc<WatchSlots>,
    caller: Option<Arc<str>>,
}

impl WatchSlots {
    /// At most `total` streams, `per_caller` of them for one caller.
    pub(crate) fn new(total: usize, per_caller: usize) -> Self {
        Self {
            total,
            per_caller,
            open: Mutex::default(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a stream of `caller` (none with authentication off: every call is then
    /// one anonymous caller, held only to the total), or why there is none.
    pub(in crate::edge::grpc) fn take(
        self: &Arc<Self>,
        caller: Option<&str>,
    ) -> Result<Slot, ApiError> {
        let mut open = self.open();
        if open.all >= self.total {
            return Err(ApiError::ResourceExhausted {
                what: "watch streams",
                limit: self.total,
            });
        }
        let caller: Option<Arc<str>> = caller.map(Arc::from);
        if let Some(caller) = &caller {
            let held = open.by_caller.entry(caller.clone()).or_default();
            if *held >= self.per_caller {
                return Err(ApiError::ResourceExhausted {
                    what: PER_CALLER,
                    limit: self.per_caller,
                });
            }
            *held += 1;
        }
        open.all += 1;
        Ok(Slot {
            slots: self.clone(),
            caller,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open();
        open.all -= 1;
        if let Some(caller) = &self.caller
            && let Some(held) = open.by_caller.get_mut(caller)
        {
            *held -= 1;
            if *held == 0 {
                open.by_caller.remove(caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_its_share_the_replica_its_total_and_slots_come_back() {
        let slots = Arc::new(WatchSlots::new(3, 2));
        let (a1, a2) = (
            slots.take(Some("a")).unwrap(),
            slots.take(Some("a")).unwrap(),
        );
        let over = slots.take(Some("a")).unwrap_err();
        assert!(
            matches!(over, ApiError::ResourceExhausted { limit: 2, .. }),
            "{over:?}"
        );
        let b = slots.take(Some("b")).expect("another caller has room");
        let full = slots.take(None).unwrap_err();
        assert!(
            matches!(full, ApiError::ResourceExhausted { limit: 3, .. }),
            "{full:?}"
        );
        drop(a1);
        let again = slots.take(Some("a")).expect("an ended watch makes room");
        drop((a2, b, again));
        let open = slots.open();
        assert_eq!((open.all, open.by_caller.len()), (0, 0));
    }
}
