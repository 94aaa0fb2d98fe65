//! Which backends answer: each is pinged (the cheapest read it has) at start and then every
//! second; a backend whose reads for callers succeeded since the last round answers even if
//! its ping did not (under load a ping waits for a pooled connection like any read, and a
//! busy backend is not a dead one). The overall health entry is `NOT_SERVING` while none
//! answers — a replica that can only say `UNAVAILABLE` to every miss should leave the load
//! balancer's rotation — and a backend that does not answer at start is logged then, by
//! name, with why.

use std::time::Duration;

use tokio::sync::watch;

use crate::core::{
    fanout::Fanout,
    sources::SourceError,
    vocab::{PerSource, SourceKind},
};

/// How often each backend is pinged.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The least a ping is given: a first connection (TCP, TLS, authentication) takes longer than
/// a read on a warm one.
const PING_AT_LEAST: Duration = Duration::from_secs(1);

/// Whether each backend answered its last ping, as a watch: readiness follows it.
#[derive(Debug)]
pub(super) struct Answering(watch::Sender<PerSource<bool>>);

impl Default for Answering {
    fn default() -> Self {
        Self(watch::Sender::new(PerSource::same(false)))
    }
}

impl Answering {
    /// At least one backend answers.
    pub(super) fn any(&self) -> bool {
        any_answers(&self.0.borrow())
    }

    /// Each backend's answering, as it changes.
    pub(super) fn subscribe(&self) -> watch::Receiver<PerSource<bool>> {
        self.0.subscribe()
    }
}

/// Whether at least one of `answering` answers.
pub(super) fn any_answers(answering: &PerSource<bool>) -> bool {
    answering.iter().any(|(_, up)| *up)
}

/// Pings every backend once, each within its timeout (at least [`PING_AT_LEAST`]); records
/// which answered (or `read_well` says served callers since the last round) and returns why
/// each other did not.
pub(super) async fn ping_all(
    fanout: &Fanout,
    timeouts: &PerSource<Duration>,
    answering: &Answering,
    read_well: PerSource<bool>,
) -> Vec<(SourceKind, String)> {
    let pings = SourceKind::ALL.map(|kind| async move {
        let wait = timeouts[kind].max(PING_AT_LEAST);
        let outcome = match tokio::time::timeout(wait, fanout.ping(kind)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(cause(&error)),
            Err(_) => Err(format!("no answer within {wait:?}")),
        };
        (kind, outcome)
    });
    let mut failures = Vec::new();
    let mut now = PerSource::same(false);
    for (kind, outcome) in futures::future::join_all(pings).await {
        now[kind] = outcome.is_ok() || read_well[kind];
        if let (Err(why), false) = (outcome, now[kind]) {
            failures.push((kind, why));
        }
    }
    answering.0.send_if_modified(|answering| {
        let changed = *answering != now;
        *answering = now;
        changed
    });
    failures
}

/// Why a ping failed, without the backend's name: backends that failed alike are named
/// together, on one line.
fn cause(error: &SourceError) -> String {
    match error {
        SourceError::Query { error, .. } => error.to_string(),
        SourceError::Invalid { error, .. } => error.to_string(),
        SourceError::Injected { reason, .. } => reason.clone(),
    }
}

/// Pings every backend every [`PROBE_EVERY`], for ever; logs when the last one stops
/// answering and when one answers again.
pub(super) async fn keep_probing(
    fanout: Fanout,
    timeouts: PerSource<Duration>,
    answering: std::sync::Arc<Answering>,
) {
    let mut any = answering.any();
    let mut served = PerSource::from_fn(|kind| reads_served(&fanout, kind));
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let now = PerSource::from_fn(|kind| reads_served(&fanout, kind));
        let read_well = PerSource::from_fn(|kind| now[kind] > served[kind]);
        served = now;
        ping_all(&fanout, &timeouts, &answering, read_well).await;
        let now = answering.any();
        if now != any {
            if now {
                tracing::info!("a backend answers again: overall health SERVING");
            } else {
                tracing::error!("no backend answers: overall health NOT_SERVING until one does");
            }
            any = now;
        }
    }
}

/// Reads of `kind` that ended with the backend's answer (not refused, timed out, failed or
/// still under way).
fn reads_served(fanout: &Fanout, kind: SourceKind) -> u64 {
    let counts = fanout.counts(kind);
    counts
        .reads
        .saturating_sub(counts.refused + counts.timeouts + counts.failed + counts.in_flight)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::future::BoxFuture;

    use super::*;
    use crate::core::{
        sources::{Source, SourceData, SourceError, Sources, fake::FakeLookups},
        vocab::CustomerId,
    };

    /// A backend that answers pings or does not.
    struct Pinged(SourceKind, bool);

    impl Source for Pinged {
        fn kind(&self) -> SourceKind {
            self.0
        }

        fn fetch(&self, _: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
            unreachable!("a probe only pings")
        }

        fn ping(&self) -> BoxFuture<'_, Result<(), SourceError>> {
            let answers = self.1;
            Box::pin(async move {
                if answers {
                    Ok(())
                } else {
                    std::future::pending().await
                }
            })
        }
    }

    /// A fan-out over backends that answer pings or do not, as `up` says.
    fn sources(up: impl Fn(SourceKind) -> bool) -> Fanout {
        let sources = Sources::new(PerSource::from_fn(|kind| {
            Arc::new(Pinged(kind, up(kind))) as Arc<dyn Source>
        }));
        let timeouts = PerSource::same(Duration::from_millis(100));
        Fanout::new(sources, Arc::new(FakeLookups::default()), timeouts)
    }

    #[tokio::test(start_paused = true)]
    async fn a_backend_that_does_not_answer_is_named_and_one_that_does_is_enough() {
        let answering = Answering::default();
        let timeouts = PerSource::same(Duration::from_millis(100));
        assert!(
            !answering.any(),
            "none known to answer before the first ping"
        );

        let failures = ping_all(
            &sources(|kind| kind == SourceKind::Crm),
            &timeouts,
            &answering,
            PerSource::same(false),
        )
        .await;
        let named: Vec<SourceKind> = failures.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(
            named,
            [
                SourceKind::Billing,
                SourceKind::Orders,
                SourceKind::Fulfilment
            ]
        );
        assert!(
            failures[0].1.contains("no answer within 1s"),
            "{failures:?}"
        );
        assert!(answering.any() && answering.0.borrow().crm);

        let failures = ping_all(
            &sources(|_| false),
            &timeouts,
            &answering,
            PerSource::same(false),
        )
        .await;
        assert_eq!(failures.len(), 4);
        assert!(!answering.any());

        // Busy serving callers: its ping waited, its reads answered.
        let mut read_well = PerSource::same(false);
        read_well.orders = true;
        let failures = ping_all(&sources(|_| false), &timeouts, &answering, read_well).await;
        assert_eq!(failures.len(), 3);
        assert!(answering.any() && answering.0.borrow().orders);
    }
}
