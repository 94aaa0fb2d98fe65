//! A scripted backend for unit tests: answers with data the test can change, after a delay,
//! or fails; can be held after its read until the test releases it; counts how often it was
//! asked.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore};

use super::{Source, SourceData, SourceError, SourceKind, Sources};
use crate::{keys::CustomerId, profile::fixtures};

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
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
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
) -> (Sources, [Arc<FakeSource>; 4]) {
    let fakes = SourceKind::ALL.map(|kind| Arc::new(adjust(FakeSource::new(kind))));
    let [b, o, f, c] = fakes.clone();
    (Sources::new(b, o, f, c), fakes)
}
