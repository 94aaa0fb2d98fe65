//! `WatchAttention`: the open items the filter shows as a snapshot (the most urgent
//! [`SNAPSHOT_MOST`]), then every addition, change and removal in that view, as long as the
//! caller listens and its credential holds. Each event carries a resume token; watching again
//! with it goes on after that event, losing none (one may come twice: each carries its item
//! as it is now, so applying it twice is harmless). A reader that takes nothing for 30 s is
//! let go; at shutdown every watch ends `UNAVAILABLE`.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use c360_proto as pb;
use futures::Stream;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use super::{AttentionApi, MAX_WATCHES, items, now, store_failed};
use crate::{
    core::attention::{Filter, Kept, Recorded, Tail, tail::BATCH},
    edge::{
        auth::Presented,
        grpc::{
            authorize::admitted,
            status::ApiError,
            status::Violation,
            watch::{Standing, lapsed},
        },
    },
};

/// The stream of a watch.
pub(super) type AttentionStream =
    Pin<Box<dyn Stream<Item = Result<pb::AttentionEvent, Status>> + Send>>;

/// Most items a snapshot holds, most urgent first.
pub(super) const SNAPSHOT_MOST: i64 = 10_000;

/// How long an event may wait for a reader that takes nothing before the watch ends.
const STALLED_AFTER: Duration = Duration::from_secs(30);

/// Events held for a slow reader.
const BUFFERED: usize = 256;

type Key = (i64, String, String);

fn key(kept: &Kept) -> Key {
    (kept.customer_id, kept.reason.clone(), kept.cause.clone())
}

/// What the caller was last shown of an item: an event that would show the same is not sent.
type Shown = (i64, Option<String>, Option<i64>, i64, String);

fn shown(kept: &Kept) -> Shown {
    let holder = kept.held(now()).then(|| kept.claimed_by.clone()).flatten();
    let until = holder.as_ref().and(kept.lease_until_us);
    (
        kept.version,
        holder,
        until,
        kept.due_us,
        kept.evidence.clone(),
    )
}

fn token(after: i64) -> String {
    format!("h{after}")
}

fn resume_point(token: &str) -> Result<Option<i64>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .strip_prefix('h')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| Violation::new("resume_token", "is not a token a watch gave").into())
}

impl AttentionApi {
    /// Opens a watch.
    pub(super) async fn watch(
        &self,
        request: Request<pb::WatchAttentionRequest>,
    ) -> Result<AttentionStream, ApiError> {
        let standing = Standing {
            admitted: admitted(&request).cloned(),
            presented: request.extensions().get::<Presented>().cloned(),
        };
        let request = request.into_inner();
        let filter = items::filter(request.filter.as_ref())?;
        let resume = resume_point(&request.resume_token)?;
        let permit =
            self.watches
                .clone()
                .try_acquire_owned()
                .map_err(|_| ApiError::ResourceExhausted {
                    what: "attention watches",
                    limit: MAX_WATCHES,
                })?;
        if self.tail.settled() < 0 {
            return Err(ApiError::Unavailable(
                "the attention queue's history has not been read yet".into(),
            ));
        }
        let (sender, receiver) = mpsc::channel(BUFFERED);
        let mut watcher = Watcher {
            tail: self.tail.clone(),
            filter,
            view: HashMap::new(),
            known: false,
            after: resume.unwrap_or(0),
            delivered: HashSet::new(),
            sender,
        };
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            let _permit = permit;
            // Ended when the credential expires or a reload of `[auth]` refuses it, as a
            // profile's watch is, or at shutdown.
            let ending = async {
                tokio::select! {
                    status = lapsed(standing) => Err(status),
                    _ = closing.wait_for(|closing| *closing) => Err(Status::unavailable("this replica is shutting down: watch again")),
                }
            };
            tokio::select! {
                ended = watcher.follow(resume.is_none()) => {
                    if let Err(status) = ended {
                        let _gone = watcher.sender.send(Err(status)).await;
                    }
                }
                ended = ending => {
                    let _gone = watcher.sender.send(ended).await;
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }
}

/// One watch's place in the history, and what it shows.
struct Watcher {
    tail: Arc<Tail>,
    filter: Filter,
    /// The items in the caller's view as it was shown them: all of them after a snapshot,
    /// those shown since after a resume.
    view: HashMap<Key, Shown>,
    /// Whether `view` holds every item the caller sees (it had a snapshot).
    known: bool,
    /// Everything up to here has been sent.
    after: i64,
    /// Transitions sent above `after`, so that the history read again does not send them
    /// twice.
    delivered: HashSet<i64>,
    sender: mpsc::Sender<Result<pb::AttentionEvent, Status>>,
}

/// The caller stopped listening, or stalled.
struct Gone;

impl Watcher {
    async fn send(&self, event: pb::AttentionEvent) -> Result<(), Gone> {
        match tokio::time::timeout(STALLED_AFTER, self.sender.send(Ok(event))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }

    /// Snapshot (unless resuming), then the history, until the caller goes.
    async fn follow(&mut self, snapshot: bool) -> Result<(), Status> {
        let mut tailed = self.tail.subscribe();
        let followed = async {
            if snapshot {
                self.snapshot().await?;
            }
            self.catch_up().await?;
            loop {
                match tailed.recv().await {
                    Ok(event) => self.tell(&event.recorded, event.resume_after).await?,
                    // Fell behind the tail: read the history from where this watch is.
                    Err(RecvError::Lagged(_)) => self.catch_up().await?,
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
        };
        match followed.await {
            Ok(()) | Err(Failed::Gone) => Ok(()),
            Err(Failed::Store(error)) => Err(Status::from(store_failed(&error))),
        }
    }

    async fn snapshot(&mut self) -> Result<(), Failed> {
        self.after = self.tail.settled();
        let mut position = None;
        while (self.view.len() as i64) < SNAPSHOT_MOST {
            let limit = BATCH.min(SNAPSHOT_MOST - self.view.len() as i64);
            let page = self
                .tail
                .store()
                .page(&self.filter, position.as_ref(), limit, now())
                .await?;
            let Some(last) = page.last() else { break };
            position = Some(crate::core::attention::Position::of(last));
            let full = page.len() as i64 == limit;
            for kept in page {
                self.view.insert(key(&kept), shown(&kept));
                self.send(event(
                    pb::attention_event::Kind::Added,
                    &kept,
                    "",
                    "",
                    self.after,
                ))
                .await?;
            }
            if !full {
                break;
            }
        }
        self.known = true;
        let end = pb::AttentionEvent {
            kind: pb::attention_event::Kind::SnapshotEnd.into(),
            resume_token: token(self.after),
            ..pb::AttentionEvent::default()
        };
        Ok(self.send(end).await?)
    }

    /// Reads the history after this watch's place until it is read to its end.
    async fn catch_up(&mut self) -> Result<(), Failed> {
        loop {
            let settled = self.tail.settled();
            let read = self.tail.store().recorded_after(self.after, BATCH).await?;
            let full = read.len() as i64 == BATCH;
            for recorded in &read {
                self.tell(recorded, recorded.id.min(settled)).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends what `recorded` changes in the view, and moves this watch's place to
    /// `resume_after`.
    async fn tell(&mut self, recorded: &Recorded, resume_after: i64) -> Result<(), Failed> {
        let after = self.after.max(resume_after);
        let fresh = recorded.id > self.after && self.delivered.insert(recorded.id);
        self.after = after;
        self.delivered.retain(|id| *id > after);
        if !fresh {
            return Ok(());
        }
        let item = &recorded.item;
        let (key, now_shown) = (key(item), shown(item));
        let before = self.view.get(&key);
        let kind = match (self.filter.shows(item, now()), before) {
            // Read again, or a transition whose item has moved on since: nothing new.
            (true, Some(before)) if *before == now_shown => return Ok(()),
            (true, Some(_)) => pb::attention_event::Kind::Changed,
            (true, None) if self.known => pb::attention_event::Kind::Added,
            (true, None) => match recorded.transition.as_str() {
                "created" | "reopened" => pb::attention_event::Kind::Added,
                _ => pb::attention_event::Kind::Changed,
            },
            (false, None) if self.known => return Ok(()),
            (false, _) => {
                self.view.remove(&key);
                pb::attention_event::Kind::Removed
            }
        };
        if kind != pb::attention_event::Kind::Removed {
            self.view.insert(key, now_shown);
        }
        let told = event(kind, item, &recorded.transition, &recorded.actor, after);
        Ok(self.send(told).await?)
    }
}

/// Why following stopped.
enum Failed {
    Gone,
    Store(sqlx::Error),
}

impl From<Gone> for Failed {
    fn from(Gone: Gone) -> Self {
        Self::Gone
    }
}

impl From<sqlx::Error> for Failed {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error)
    }
}

fn event(
    kind: pb::attention_event::Kind,
    kept: &Kept,
    transition: &str,
    actor: &str,
    after: i64,
) -> pb::AttentionEvent {
    pb::AttentionEvent {
        kind: kind.into(),
        item: Some(items::item(kept, now())),
        transition: transition.to_owned(),
        actor: actor.to_owned(),
        resume_token: token(after),
    }
}
