//! `customer360.v1.AttentionService`: the queue listed and watched, its items claimed,
//! renewed, released and resolved by the calling agent — who is the caller the door let in
//! (`anonymous` with authentication off) — every act fenced by its claim's version and
//! audited. The queue itself is `core::attention`.

mod items;
mod watch;

use std::{sync::Arc, time::Duration};

use c360_proto as pb;
use tonic::{Request, Response, Status};

use super::{
    authorize::{Trail, admitted},
    call, rpc,
    status::ApiError,
    validate::{self, both},
};
use crate::{
    core::{
        attention::{Act, AttentionFigures, ItemKey, Kept, Refused, Store, Tail},
        vocab::{SectionSet, Timestamp},
    },
    edge::audit::Audit,
};

use watch::AttentionStream;

/// Watches of the queue one replica holds at once.
const MAX_WATCHES: usize = 1000;

/// Serves the attention queue.
#[derive(Clone)]
pub struct AttentionApi {
    tail: Arc<Tail>,
    lease: Duration,
    audit: Audit,
    watches: Arc<tokio::sync::Semaphore>,
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for AttentionApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttentionApi")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

fn store_failed(error: &sqlx::Error) -> ApiError {
    tracing::warn!(%error, "attention: the queue's tables did not answer");
    ApiError::Unavailable("the attention queue's database did not answer".into())
}

fn not_found(key: &ItemKey) -> ApiError {
    ApiError::NotFound {
        resource: "attention item",
        id: format!("{}/{}/{}", key.customer, key.reason.as_str(), key.cause),
    }
}

/// Why an act on `key` was refused, as the caller is told.
fn refused(refused: Refused, key: &ItemKey) -> ApiError {
    match refused {
        Refused::NotFound => not_found(key),
        Refused::NotOpen(_) | Refused::ClaimedByOther { .. } => {
            ApiError::FailedPrecondition(refused.to_string())
        }
        Refused::Stale { .. } => ApiError::Aborted(refused.to_string()),
    }
}

/// Who acts: the caller the door let in, or `anonymous` with authentication off.
fn agent<T>(request: &Request<T>) -> String {
    admitted(request).map_or_else(|| "anonymous".to_owned(), |a| a.caller.name.clone())
}

fn now() -> Timestamp {
    chrono::Utc::now()
}

impl AttentionApi {
    /// The queue that `tail` follows; claims last `lease` unless asked otherwise.
    pub fn new(tail: Arc<Tail>, lease: Duration) -> Self {
        Self {
            tail,
            lease,
            audit: Audit::default(),
            watches: Arc::new(tokio::sync::Semaphore::new(MAX_WATCHES)),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// The replica is shutting down: every watch ends (`UNAVAILABLE`, so that its caller
    /// watches another replica).
    pub fn close_watches(&self) {
        self.closing.send_replace(true);
    }

    /// The same, recording every claim and resolution in `audit`.
    pub fn audited(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    /// What this replica counts of the queue, for `/metrics`.
    pub fn figures(&self) -> Arc<AttentionFigures> {
        self.store().figures().clone()
    }

    fn store(&self) -> &Store {
        self.tail.store()
    }

    async fn list(
        &self,
        request: pb::ListAttentionRequest,
    ) -> Result<pb::ListAttentionResponse, ApiError> {
        let (filter, size) = both(
            items::filter(request.filter.as_ref()),
            items::page_size(request.page_size),
        )?;
        let after = items::position(&request.page_token, &filter)?;
        let now = now();
        // One more than the page tells whether another follows.
        let mut kept = self
            .store()
            .page(&filter, after.as_ref(), size + 1, now)
            .await
            .map_err(|e| store_failed(&e))?;
        let more = kept.len() as i64 > size;
        kept.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        let next_page_token = match (more, kept.last()) {
            (true, Some(last)) => items::page_token(last, &filter),
            _ => String::new(),
        };
        Ok(pb::ListAttentionResponse {
            items: kept.iter().map(|k| items::item(k, now)).collect(),
            next_page_token,
        })
    }

    /// The item of `key` as it is after an act at `now`.
    async fn shown(&self, key: &ItemKey, now: Timestamp) -> Result<pb::AttentionItem, ApiError> {
        let kept: Option<Kept> = self.store().get(key).await.map_err(|e| store_failed(&e))?;
        kept.map(|kept| items::item(&kept, now))
            .ok_or_else(|| not_found(key))
    }

    /// Runs `act` on the item the request names, as its caller, and audits it as `rpc`.
    async fn acted<T, F>(
        &self,
        rpc: &'static str,
        request: Request<T>,
        checked: impl FnOnce(&T) -> validate::Checked<(ItemKey, F)>,
        act: impl AsyncFnOnce(&Store, &ItemKey, &str, F) -> Result<Result<(), Refused>, sqlx::Error>,
    ) -> Result<pb::AttentionItem, ApiError> {
        let (trail, agent) = (Trail::of(&request), agent(&request));
        let (key, outcome) = match checked(request.get_ref()) {
            Err(violations) => (None, Err(ApiError::from(violations))),
            Ok((key, asked)) => {
                let done = match act(self.store(), &key, &agent, asked).await {
                    Ok(done) => done.map_err(|why| refused(why, &key)),
                    Err(error) => Err(store_failed(&error)),
                };
                let outcome = match done {
                    Ok(()) => self.shown(&key, now()).await,
                    Err(error) => Err(error),
                };
                (Some(key), outcome)
            }
        };
        let customers = key.iter().map(|key| key.customer.to_string()).collect();
        let outcome_seen = outcome.as_ref().map(|_| None);
        let mut record = trail.record(rpc, customers, SectionSet::NONE, outcome_seen);
        record.attention = key.map(|key| {
            let version = outcome
                .as_ref()
                .map_or(String::new(), |i| format!(" v{}", i.version));
            format!("{}/{}{version}", key.reason.as_str(), key.cause)
        });
        self.audit.record(&record);
        outcome
    }
}

#[tonic::async_trait]
impl pb::server::attention_service_server::AttentionService for AttentionApi {
    async fn list_attention(
        &self,
        request: Request<pb::ListAttentionRequest>,
    ) -> Result<Response<pb::ListAttentionResponse>, Status> {
        let call = call::context(&request).cloned();
        rpc("ListAttention", call, self.list(request.into_inner())).await
    }

    type WatchAttentionStream = AttentionStream;

    async fn watch_attention(
        &self,
        request: Request<pb::WatchAttentionRequest>,
    ) -> Result<Response<AttentionStream>, Status> {
        let call = call::context(&request).cloned();
        rpc("WatchAttention", call, self.watch(request)).await
    }

    async fn claim_attention(
        &self,
        request: Request<pb::ClaimAttentionRequest>,
    ) -> Result<Response<pb::AttentionItem>, Status> {
        let call = call::context(&request).cloned();
        let default = self.lease;
        let claim = self.acted(
            "ClaimAttention",
            request,
            |r| {
                both(
                    items::key(r.key.as_ref()),
                    items::lease(r.lease.as_ref(), default),
                )
            },
            async |store, key, agent, lease| {
                let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
                Ok(store.claim(key, agent, lease, now()).await?.map(drop))
            },
        );
        rpc("ClaimAttention", call, claim).await
    }

    async fn renew_attention(
        &self,
        request: Request<pb::RenewAttentionRequest>,
    ) -> Result<Response<pb::AttentionItem>, Status> {
        let call = call::context(&request).cloned();
        let default = self.lease;
        let renew = self.acted(
            "RenewAttention",
            request,
            |r| {
                let lease = items::lease(r.lease.as_ref(), default);
                both(items::key(r.key.as_ref()), lease)
                    .map(|(key, lease)| (key, (lease, r.version)))
            },
            async |store, key, agent, (lease, version)| {
                let act = Act {
                    key,
                    agent,
                    version,
                    now: now(),
                };
                let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
                Ok(store.renew(act, lease).await?.map(drop))
            },
        );
        rpc("RenewAttention", call, renew).await
    }

    async fn release_attention(
        &self,
        request: Request<pb::ReleaseAttentionRequest>,
    ) -> Result<Response<pb::AttentionItem>, Status> {
        let call = call::context(&request).cloned();
        let release = self.acted(
            "ReleaseAttention",
            request,
            |r| items::key(r.key.as_ref()).map(|key| (key, r.version)),
            async |store, key, agent, version| {
                store
                    .release(Act {
                        key,
                        agent,
                        version,
                        now: now(),
                    })
                    .await
            },
        );
        rpc("ReleaseAttention", call, release).await
    }

    async fn resolve_attention(
        &self,
        request: Request<pb::ResolveAttentionRequest>,
    ) -> Result<Response<pb::AttentionItem>, Status> {
        let call = call::context(&request).cloned();
        let resolve = self.acted(
            "ResolveAttention",
            request,
            |r| {
                both(items::key(r.key.as_ref()), items::outcome(r.outcome))
                    .map(|(key, outcome)| (key, (outcome.to_owned(), r.version)))
            },
            async |store, key, agent, (outcome, version): (String, i64)| {
                let act = Act {
                    key,
                    agent,
                    version,
                    now: now(),
                };
                store.resolve(act, &outcome).await
            },
        );
        rpc("ResolveAttention", call, resolve).await
    }
}
