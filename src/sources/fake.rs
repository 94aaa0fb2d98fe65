//! A scripted backend for unit tests: answers with fixed data, after a delay, or fails, and
//! counts how often it was asked.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;

use super::{Source, SourceData, SourceError, SourceKind, Sources};
use crate::{keys::CustomerId, profile::fixtures};

pub(crate) struct FakeSource {
    kind: SourceKind,
    data: SourceData,
    delay: Duration,
    fails: bool,
    calls: AtomicUsize,
}

impl FakeSource {
    /// Answers with the fixture data of `kind`.
    pub(crate) fn new(kind: SourceKind) -> Self {
        Self {
            kind,
            data: fixtures::source_data(kind),
            delay: Duration::ZERO,
            fails: false,
            calls: AtomicUsize::new(0),
        }
    }

    pub(crate) fn answering(mut self, data: SourceData) -> Self {
        self.data = data;
        self
    }

    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub(crate) fn failing(mut self) -> Self {
        self.fails = true;
        self
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
            if self.fails {
                return Err(SourceError::Injected {
                    backend: self.kind,
                    reason: "scripted failure".into(),
                });
            }
            Ok(self.data.clone())
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
