//! `WatchOffers`: the ledger's entries after a position, read from the ledger itself, then
//! each as this replica's tail reads it. Subscribed to the tail before the ledger is read, and
//! every entry at or below the last one sent skipped, so that none is lost between the two
//! and none comes twice; a watcher the tail's backlog left behind reads the ledger again from
//! where it was.

use std::sync::Arc;

use c360_proto as pb;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use super::{OfferApi, wire};
use crate::{
    core::{
        offers::{OfferState, OfferStore, store::Entry},
        vocab::CustomerId,
    },
    edge::grpc::{
        authorize::Trail,
        status::{ApiError, Violation},
        validate,
    },
};

/// Entries read from the ledger at once while catching up.
const CATCH_UP: i64 = 500;

/// What a watch streams.
pub(super) type OfferStream = ReceiverStream<Result<pb::OfferLedgerEntry, Status>>;

/// Which entries a watch sends.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    customer: Option<CustomerId>,
    to_carry_out: bool,
}

impl Wanted {
    fn wants(self, entry: &Entry) -> bool {
        self.customer.is_none_or(|c| c == entry.offer.customer)
            && (!self.to_carry_out
                || matches!(entry.state, OfferState::Recorded | OfferState::Approved))
    }
}

impl OfferApi {
    pub(super) async fn watch(
        &self,
        request: Request<pb::WatchOffersRequest>,
    ) -> Result<OfferStream, ApiError> {
        let trail = Trail::of(&request);
        let r = request.get_ref();
        let opened = self.open(r).await;
        let said = opened
            .as_ref()
            .ok()
            .map(|_| format!("after {}", r.after_position));
        self.audit_call(&trail, "WatchOffers", &r.customer_id, &opened, said);
        opened
    }

    async fn open(&self, r: &pb::WatchOffersRequest) -> Result<OfferStream, ApiError> {
        let customer = match r.customer_id.is_empty() {
            true => None,
            false => Some(validate::key::<CustomerId>("customer_id", &r.customer_id)?),
        };
        if r.after_position < 0 {
            return Err(Violation::new("after_position", "must not be negative").into());
        }
        let slot = (self.watches.clone().try_acquire_owned()).map_err(|_| {
            ApiError::ResourceExhausted {
                what: "offer watches",
                limit: super::MAX_WATCHES,
            }
        })?;
        let wanted = Wanted {
            customer,
            to_carry_out: r.to_carry_out,
        };
        // Subscribed before the ledger is read: nothing appended between the two is lost.
        let mut live = self.tail.subscribe();
        let (store, mut closing) = (self.tail.store().clone(), self.closing.subscribe());
        let (sender, receiver) = mpsc::channel(64);
        let mut after = r.after_position;
        tokio::spawn(async move {
            let _slot = slot;
            let ended = async {
                catch_up(&store, &sender, &mut after, wanted).await?;
                loop {
                    let entry = tokio::select! {
                        () = sender.closed() => return Err(None),
                        _ = closing.changed() => return Err(Some(Status::unavailable(
                            "this replica is shutting down; watch another from the last position",
                        ))),
                        entry = live.recv() => entry,
                    };
                    match entry {
                        Ok(entry) => send(&sender, &entry, &mut after, wanted).await?,
                        Err(RecvError::Lagged(_)) => {
                            catch_up(&store, &sender, &mut after, wanted).await?;
                        }
                        Err(RecvError::Closed) => return Err(None),
                    }
                }
            };
            let ended: Result<(), Option<Status>> = ended.await;
            if let Err(Some(status)) = ended {
                let _ = sender.send(Err(status)).await;
            }
        });
        Ok(ReceiverStream::new(receiver))
    }
}

type Sender = mpsc::Sender<Result<pb::OfferLedgerEntry, Status>>;

/// Sends `entry` if it is after `after` and wanted. `Err(None)`: the caller left.
async fn send(
    sender: &Sender,
    entry: &Arc<Entry>,
    after: &mut i64,
    wanted: Wanted,
) -> Result<(), Option<Status>> {
    if entry.position <= *after {
        return Ok(());
    }
    *after = entry.position;
    if !wanted.wants(entry) {
        return Ok(());
    }
    sender.send(Ok(wire::entry(entry))).await.map_err(|_| None)
}

/// Sends what the ledger holds after `after`, to its end.
async fn catch_up(
    store: &OfferStore,
    sender: &Sender,
    after: &mut i64,
    wanted: Wanted,
) -> Result<(), Option<Status>> {
    loop {
        let page = store
            .entries(*after, None, false, CATCH_UP)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "offers: the ledger did not answer a watch");
                Some(Status::unavailable(
                    "the offers' database did not answer; watch again",
                ))
            })?;
        let Some(last) = page.last().map(|e| e.position) else {
            return Ok(());
        };
        for entry in page {
            send(sender, &Arc::new(entry), after, wanted).await?;
        }
        *after = last;
    }
}
