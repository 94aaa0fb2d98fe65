//! `WatchCustomerProfile`: the profile now, then again after each change to it, as long as
//! the caller listens and its credential holds (a watch ends `UNAUTHENTICATED` when the token
//! it was opened with expires or a reload of `[auth]` refuses it, `PERMISSION_DENIED` when a
//! reload takes its grant away); a slow reader gets the latest, never a backlog, and one that
//! stops reading is let go after 30 s (`ABORTED`). Slots are shared out by `slots.rs`.

use std::{
    pin::Pin,
    time::{Duration, Instant},
};

use c360_proto::{self as pb, WireProfile};
use futures::{Stream, StreamExt};
use tokio::sync::{
    broadcast::{
        self,
        error::{RecvError, TryRecvError},
    },
    mpsc, oneshot,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::{
    authorize::{self, Trail},
    customer_service::{CustomerApi, wire},
    status::ApiError,
    validate::{self, both},
};
use crate::{
    core::cache::Change,
    core::read::{Freshness, ProfileError, Profiles, Served},
    core::vocab::{CustomerId, FieldSet, SectionSet},
    edge::auth::{Admitted, AuthError, Grant, Presented, unix_now},
};

mod slots;

pub(super) use slots::WatchSlots;

/// How long a watch's read waits to be admitted before the shed answers it. A watch has no
/// deadline of its own, and a crowd of them opened at once (every desk after a deploy) would
/// otherwise be refused for being many, while admission lets more loads in each window the
/// backends keep up.
const PATIENCE: Duration = Duration::from_secs(10);

/// Between two tries of a shed read: about one admission window, jittered so that a crowd
/// of watches does not come back in step.
const RETRY_AFTER: Duration = Duration::from_millis(75);

/// How long a profile may wait for a reader that takes nothing before the watch ends: a
/// reader that is slow gets the latest profile, one that has stopped reading is let go rather
/// than held (with its slot, its subscription and a profile) for as long as its connection
/// lasts.
const STALLED_AFTER: Duration = Duration::from_secs(30);

const STALLED: &str = "this watch's reader took no profile for 30 s, so the watch was ended \
     rather than kept waiting; watch again to go on";

/// A watch's read of `customer`: tried again while admission sheds it, for up to
/// [`PATIENCE`]; any other answer at once.
async fn read_patiently(
    profiles: &Profiles,
    customer: CustomerId,
    sections: SectionSet,
) -> Result<Served, ProfileError> {
    let until = Instant::now() + PATIENCE;
    loop {
        match profiles
            .get(customer, sections, Freshness::AnyAge, None)
            .await
        {
            Err(ProfileError::Overloaded(_)) if Instant::now() < until => {
                let jitter = Duration::from_millis(rand::random_range(0..50));
                tokio::time::sleep(RETRY_AFTER + jitter).await;
            }
            answer => return answer,
        }
    }
}

/// What the caller's credential was when the watch opened: what ends it when it no longer
/// holds.
#[derive(Debug, Default)]
pub(super) struct Standing {
    /// The caller let in (none with authentication off).
    pub admitted: Option<Admitted>,
    /// Its credential, to check again when `[auth]` is reloaded.
    pub presented: Option<Presented>,
}

/// A watch: the profile after each change, as long as the caller listens.
pub(super) type ProfileStream = Pin<Box<dyn Stream<Item = Result<WireProfile, Status>> + Send>>;

impl CustomerApi {
    pub(super) async fn watch(
        &self,
        request: pb::WatchCustomerProfileRequest,
        grant: Grant,
        standing: Standing,
        trail: Trail,
    ) -> Result<ProfileStream, ApiError> {
        let (customer, sections) = both(
            validate::key::<CustomerId>("customer_id", &request.customer_id),
            validate::read_mask(request.read_mask.as_ref()),
        )?;
        let named = authorize::names_sections(request.read_mask.as_ref());
        let sections = authorize::sections(grant, sections, named)?;
        let caller = standing.admitted.as_ref().map(|a| a.caller.name.as_str());
        let slot = self.watches.take(caller).inspect_err(|refused| {
            // Over its own share: a refusal of this caller (the replica's limit is not).
            if matches!(refused, ApiError::ResourceExhausted { what, .. } if *what == slots::PER_CALLER)
            {
                trail.note_refused(&Status::from(refused.clone()));
            }
        })?;
        let lapsed = lapsed(standing);
        // Subscribed before the first read: no change can slip between the two.
        let changes = self.profiles.subscribe();
        let first = read_patiently(&self.profiles, customer, sections)
            .await
            .map_err(ApiError::from);
        if self.audit.is_on() {
            // The watch is audited once, as it opens: what it streams after is the same
            // customer's same sections.
            let outcome = first.as_ref().map(|s| Some(s.from));
            let record = trail.record(
                "WatchCustomerProfile",
                vec![customer.to_string()],
                sections,
                outcome,
            );
            self.audit.record(&record);
        }
        let first = first?;
        // Room for one profile: a slow reader holds up only its own next read, and that read
        // then takes in every change made meanwhile. What ends the watch goes apart, after
        // it, so that it needs no room.
        let (sender, receiver) = mpsc::channel(1);
        let (ending, ended) = oneshot::channel::<Status>();
        let hidden = grant.hidden;
        let _ = sender.try_send(Ok(wire(&first, sections, hidden, self.offers.as_deref())));
        let watch = Watch {
            offers: self.offers.clone(),
            profiles: self.profiles.clone(),
            customer,
            sections,
            hidden,
            sender,
        };
        tokio::spawn(async move {
            let _slot = slot;
            if let Some(status) = watch.follow(changes, lapsed).await {
                let _ = ending.send(status);
            }
        });
        let ended = futures::stream::once(ended).filter_map(|end| async move { end.ok().map(Err) });
        Ok(Box::pin(ReceiverStream::new(receiver).chain(ended)))
    }
}

/// An open watch's side of its stream.
struct Watch {
    profiles: Profiles,
    /// The offers made, shown with the insights.
    offers: Option<std::sync::Arc<crate::core::offers::OfferTail>>,
    customer: CustomerId,
    sections: SectionSet,
    /// Fields the caller's role may not see.
    hidden: FieldSet,
    sender: mpsc::Sender<Result<WireProfile, Status>>,
}

impl Watch {
    /// Sends the profile after each change to it until the caller leaves (`None`) or
    /// something ends the watch: the status it ends with.
    async fn follow(
        self,
        mut changes: broadcast::Receiver<Change>,
        lapsed: impl Future<Output = Status>,
    ) -> Option<Status> {
        tokio::pin!(lapsed);
        loop {
            let change = tokio::select! {
                () = self.sender.closed() => return None,
                lapsed = &mut lapsed => return Some(lapsed),
                change = changes.recv() => change,
            };
            match change {
                Ok(Change::Customer(id, _)) if id != self.customer => continue,
                Ok(Change::Closing) => {
                    return Some(Status::unavailable(
                        "this replica is shutting down; watch again to reach another",
                    ));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
            // Changes that queued up while the last profile waited for the reader are all
            // covered by the one read below.
            loop {
                match changes.try_recv() {
                    Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return None,
                }
            }
            let next = match read_patiently(&self.profiles, self.customer, self.sections).await {
                Ok(served) => wire(&served, self.sections, self.hidden, self.offers.as_deref()),
                Err(error) => return Some(Status::from(ApiError::from(error))),
            };
            match tokio::time::timeout(STALLED_AFTER, self.sender.send(Ok(next))).await {
                Ok(Ok(())) => {}
                Ok(Err(_left)) => return None,
                Err(_stalled) => return Some(Status::aborted(STALLED)),
            }
        }
    }
}

/// Resolves, with the status that ends the watch, when the credential it was opened with
/// expires or a reload of `[auth]` refuses it; never while it holds.
pub(super) async fn lapsed(standing: Standing) -> Status {
    let expires = standing.admitted.and_then(|a| a.expires);
    let revoked = async {
        match standing.presented {
            Some(presented) => presented.revoked().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = expiry(expires) => Status::unauthenticated(
            "the credential this watch was opened with has expired; watch again with a valid one",
        ),
        why = revoked => match why {
            AuthError::Denied { .. } => Status::permission_denied(format!(
                "{why}: [auth] was reloaded and no longer grants this watch"
            )),
            other => Status::unauthenticated(format!(
                "the credential this watch was opened with no longer holds: {other}"
            )),
        },
    }
}

/// Resolves when a credential expiring at `expires` (Unix seconds) has expired; never for
/// one that does not expire (an API key, or authentication off).
async fn expiry(expires: Option<u64>) {
    match expires {
        Some(at) => {
            let left = at.saturating_sub(unix_now());
            tokio::time::sleep(std::time::Duration::from_secs(left)).await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    fn test_trail() -> Trail {
        Trail::of(&tonic::Request::new(()))
    }

    use futures::StreamExt;
    use prost::Message;

    use super::*;
    use crate::{
        core::queries::Queries,
        core::read::tests::profiles,
        core::sources::{SourceData, fake::fake_sources, fixtures},
    };

    #[tokio::test]
    async fn a_slow_watcher_gets_the_latest_profile_not_a_backlog() {
        let (sources, fakes) = fake_sources(|f| f);
        let crm = fakes.crm.clone();
        let profiles = profiles(sources);
        let queries = Queries::new(profiles.fanout().clone(), profiles.catalog().clone());
        let api = CustomerApi::new(profiles.clone(), queries, 10, 10);
        let request = pb::WatchCustomerProfileRequest {
            customer_id: fixtures::customer().to_string(),
            read_mask: None,
        };
        let mut stream = api
            .watch(request, Grant::ALL, Standing::default(), test_trail())
            .await
            .expect("a watch");
        assert!(stream.next().await.is_some());

        // Twenty changes while the watcher does not read.
        for n in 0..20 {
            let mut record = fixtures::crm();
            record.identity.email = format!("v{n}@example.com");
            crm.set_data(SourceData::Crm(Some(record)));
            profiles.invalidate(&[fixtures::customer()]).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // It then reads at most the profile that was waiting, the one being sent, and the
        // latest.
        let mut read = 0;
        loop {
            let wire = stream.next().await.expect("more").expect("a profile");
            let profile = pb::CustomerProfile::decode(wire.to_bytes()).expect("decodes");
            read += 1;
            if profile.identity.expect("identity").email == "v19@example.com" {
                break;
            }
        }
        assert!(read <= 3, "a slow watcher was sent {read} profiles");
        // And nothing is left queued behind the latest.
        let backlog = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
        assert!(
            backlog.is_err(),
            "a backlog of profiles followed the latest"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_watcher_that_stops_reading_is_let_go_and_its_slot_freed() {
        let (sources, fakes) = fake_sources(|f| f);
        let crm = fakes.crm.clone();
        let profiles = profiles(sources);
        let queries = Queries::new(profiles.fanout().clone(), profiles.catalog().clone());
        let api = CustomerApi::new(profiles.clone(), queries, 1, 1);
        let request = || pb::WatchCustomerProfileRequest {
            customer_id: fixtures::customer().to_string(),
            read_mask: None,
        };
        let mut stream = api
            .watch(request(), Grant::ALL, Standing::default(), test_trail())
            .await
            .expect("a watch");
        assert!(stream.next().await.is_some());
        // One profile waits for the reader; the next cannot be handed over.
        for n in 1..=2 {
            let mut record = fixtures::crm();
            record.identity.email = format!("v{n}@example.com");
            crm.set_data(SourceData::Crm(Some(record)));
            profiles.invalidate(&[fixtures::customer()]).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_secs(28)).await;
        // Short of the limit: still open, so its slot is still taken.
        let second = api
            .watch(request(), Grant::ALL, Standing::default(), test_trail())
            .await;
        assert!(second.is_err(), "the stalled watch let its slot go early");
        tokio::time::sleep(Duration::from_secs(3)).await;
        // What waited, then the end.
        let waited = stream.next().await.expect("the waiting profile");
        assert!(waited.is_ok());
        let ended = stream.next().await.expect("an end").expect_err("a status");
        assert_eq!(ended.code(), tonic::Code::Aborted, "{ended:?}");
        assert!(ended.message().contains("took no profile"), "{ended:?}");
        assert!(stream.next().await.is_none());
        // Its slot is free again.
        assert!(
            api.watch(request(), Grant::ALL, Standing::default(), test_trail())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_watch_beyond_the_replicas_limit_is_refused_with_a_retry_hint() {
        let (sources, _) = fake_sources(|f| f);
        let profiles = profiles(sources);
        let queries = Queries::new(profiles.fanout().clone(), profiles.catalog().clone());
        let api = CustomerApi::new(profiles.clone(), queries, 1, 1);
        let request = || pb::WatchCustomerProfileRequest {
            customer_id: fixtures::customer().to_string(),
            read_mask: None,
        };
        let first = api
            .watch(request(), Grant::ALL, Standing::default(), test_trail())
            .await
            .expect("a watch");
        let refused = api
            .watch(request(), Grant::ALL, Standing::default(), test_trail())
            .await
            .err()
            .expect("refused");
        let status = Status::from(refused);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            tonic_types::StatusExt::get_details_retry_info(&status).is_some(),
            "{status:?}"
        );
        // A watch that ends makes room for the next.
        drop(first);
        let reopened = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                if let Ok(stream) = api
                    .watch(request(), Grant::ALL, Standing::default(), test_trail())
                    .await
                {
                    return stream;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(reopened.is_ok(), "the ended watch still counted");
    }
}
