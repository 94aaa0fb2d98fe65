//! Scripted backends for unit tests. [`FakeSource`] answers with data the test can change,
//! after a delay, or fails; can be held after its read until the test releases it; counts how
//! often it was asked. [`FakeLookups`] answers lookups from the fixtures, or fails per backend.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore};

use super::{
    CustomerKey, Lookups, OrderDetail, Source, SourceData, SourceError, Sources, fixtures,
};
use crate::{
    core::records::{Identity, Shipment},
    core::vocab::{CustomerId, OrderId, PerSource, SourceKind},
};

/// Holds a read after it has read, until released.
#[derive(Debug)]
pub(crate) struct Gate {
    reached: Notify,
    release: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            reached: Notify::new(),
            release: Semaphore::new(0),
        }
    }
}

impl Gate {
    /// Waits until a read is held at the gate.
    pub(crate) async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets one held read go on.
    pub(crate) fn release(&self) {
        self.release.add_permits(1);
    }
}

pub(crate) struct FakeSource {
    kind: SourceKind,
    data: Mutex<SourceData>,
    delay: Duration,
    /// Delays of the next reads, in order, before `delay` applies again.
    scripted: Mutex<std::collections::VecDeque<Duration>>,
    fails: AtomicBool,
    gate: Option<Arc<Gate>>,
    calls: AtomicUsize,
}

impl FakeSource {
    /// Answers with the fixture data of `kind`.
    pub(crate) fn new(kind: SourceKind) -> Self {
        Self {
            kind,
            data: Mutex::new(fixtures::source_data(kind)),
            delay: Duration::ZERO,
            scripted: Mutex::default(),
            fails: AtomicBool::new(false),
            gate: None,
            calls: AtomicUsize::new(0),
        }
    }

    pub(crate) fn answering(self, data: SourceData) -> Self {
        self.set_data(data);
        self
    }

    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The next reads take these delays, one each, instead of the usual one.
    pub(crate) fn script_delays(&self, delays: impl IntoIterator<Item = Duration>) {
        self.scripted
            .lock()
            .expect("fake delays lock")
            .extend(delays);
    }

    pub(crate) fn failing(self) -> Self {
        self.set_failing(true);
        self
    }

    pub(crate) fn gated(mut self, gate: Arc<Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// What the backend says from now on (a commit).
    pub(crate) fn set_data(&self, data: SourceData) {
        *self.data.lock().expect("fake data lock") = data;
    }

    pub(crate) fn set_failing(&self, fails: bool) {
        self.fails.store(fails, Ordering::SeqCst);
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Source for FakeSource {
    fn kind(&self) -> SourceKind {
        self.kind
    }

    fn fetch(&self, _customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let scripted = self.scripted.lock().expect("fake delays lock").pop_front();
        Box::pin(async move {
            tokio::time::sleep(scripted.unwrap_or(self.delay)).await;
            if self.fails.load(Ordering::SeqCst) {
                return Err(SourceError::Injected {
                    backend: self.kind,
                    reason: "scripted failure".into(),
                });
            }
            let read = self.data.lock().expect("fake data lock").clone();
            if let Some(gate) = &self.gate {
                gate.reached.notify_one();
                if let Ok(permit) = gate.release.acquire().await {
                    permit.forget();
                }
            }
            Ok(read)
        })
    }
}

/// Four fakes, each adjusted by `adjust`, and the handles to inspect them.
pub(crate) fn fake_sources(
    mut adjust: impl FnMut(FakeSource) -> FakeSource,
) -> (Sources, PerSource<Arc<FakeSource>>) {
    let fakes = PerSource::from_fn(|kind| Arc::new(adjust(FakeSource::new(kind))));
    let sources = fakes.clone().map(|fake| fake as Arc<dyn Source>);
    (Sources::new(sources), fakes)
}

/// How many reads each fake has answered (or failed).
pub(crate) fn calls(fakes: &PerSource<Arc<FakeSource>>) -> PerSource<usize> {
    fakes.clone().map(|fake| fake.calls())
}

/// Lookups over the fixtures' customer, orders and parcels; a backend can be made to fail.
#[derive(Default)]
pub(crate) struct FakeLookups {
    failing: PerSource<AtomicBool>,
    calls: PerSource<AtomicUsize>,
}

impl FakeLookups {
    /// From now on, every lookup that reads `kind` fails (or no longer does).
    pub(crate) fn set_failing(&self, kind: SourceKind, fails: bool) {
        self.failing[kind].store(fails, Ordering::SeqCst);
    }

    /// Lookups asked of each backend.
    pub(crate) fn calls(&self) -> PerSource<usize> {
        PerSource::from_fn(|kind| self.calls[kind].load(Ordering::SeqCst))
    }

    fn read<T>(&self, kind: SourceKind, answer: impl FnOnce() -> T) -> Result<T, SourceError> {
        self.calls[kind].fetch_add(1, Ordering::SeqCst);
        if self.failing[kind].load(Ordering::SeqCst) {
            return Err(SourceError::Injected {
                backend: kind,
                reason: "scripted failure: password authentication failed for user app".into(),
            });
        }
        Ok(answer())
    }
}

impl Lookups for FakeLookups {
    fn customers(
        &self,
        key: CustomerKey,
    ) -> BoxFuture<'_, Result<Vec<(CustomerId, Identity)>, SourceError>> {
        let found = self.read(SourceKind::Crm, || {
            let identity = fixtures::identity();
            let matches = match &key {
                CustomerKey::Id(id) => *id == fixtures::customer(),
                CustomerKey::Email(email) => email.as_str() == identity.email,
                CustomerKey::Phone(phone) => phone.as_str() == identity.phone,
            };
            matches
                .then(|| (fixtures::customer(), identity))
                .into_iter()
                .collect()
        });
        Box::pin(async move { found })
    }

    fn order(&self, order: OrderId) -> BoxFuture<'_, Result<Option<OrderDetail>, SourceError>> {
        let found = self.read(SourceKind::Orders, || {
            let history = fixtures::history();
            let order = history.recent.into_iter().find(|o| o.id == order);
            order.map(|order| OrderDetail {
                customer: fixtures::customer(),
                order,
            })
        });
        Box::pin(async move { found })
    }

    fn shipments_of(&self, order: OrderId) -> BoxFuture<'_, Result<Vec<Shipment>, SourceError>> {
        let found = self.read(SourceKind::Fulfilment, || {
            let parcels = fixtures::shipments().into_iter();
            parcels.filter(|s| s.order_id == order).collect()
        });
        Box::pin(async move { found })
    }
}
