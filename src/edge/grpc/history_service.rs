//! `customer360.v1.HistoryService`: one customer's history searched, or every customer's for
//! the roles granted `SearchAllHistory`. Hits reveal the interactions section: a caller
//! whose roles do not grant it is refused. Every search is audited by what it served (the
//! customers, the count of hits), never by its words. The index is `core::search`.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use c360_proto as pb;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::{
    authorize::{Trail, grant_of},
    call, rpc,
    status::{ApiError, Violation},
    validate::{self, Checked, both},
};
use crate::{
    core::{
        convert::timestamp,
        records::{InteractionChannel, MessageAuthor, MessageKind},
        search::{Found, History, MAX_DEPTH, Query, Search, SearchError},
        vocab::{CustomerId, Section, SectionSet, Timestamp},
    },
    edge::audit::Audit,
};

/// Longest a search waits for a replica's index to be made at start.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Hits a page holds when the caller does not say.
const DEFAULT_PAGE: usize = 20;
/// Most hits a page holds.
const MAX_PAGE: i32 = 100;

/// Serves history search.
#[derive(Clone)]
pub struct HistoryApi {
    history: Arc<History>,
    audit: Audit,
}

impl std::fmt::Debug for HistoryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryApi").finish_non_exhaustive()
    }
}

/// What both searches ask, checked.
struct Asked {
    query: Query,
    channels: Vec<InteractionChannel>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: usize,
    offset: usize,
}

/// The fields both requests share, as they came.
struct Fields<'a> {
    customer: Option<CustomerId>,
    query: &'a str,
    channels: &'a [i32],
    sent_after: Option<&'a prost_types::Timestamp>,
    sent_before: Option<&'a prost_types::Timestamp>,
    page_size: i32,
    page_token: &'a str,
}

/// The [`Fields`] of either request, which name them alike, for `customer`.
macro_rules! fields {
    ($customer:expr, $request:expr) => {
        Fields {
            customer: $customer,
            query: &$request.query,
            channels: &$request.channels,
            sent_after: $request.sent_after.as_ref(),
            sent_before: $request.sent_before.as_ref(),
            page_size: $request.page_size,
            page_token: &$request.page_token,
        }
    };
}

fn time(field: &str, raw: Option<&prost_types::Timestamp>) -> Checked<Option<Timestamp>> {
    raw.map(|t| {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| Timestamp::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| vec![Violation::new(field, "is not a valid time")])
    })
    .transpose()
}

fn channel(raw: i32) -> Option<InteractionChannel> {
    match pb::InteractionChannel::try_from(raw).ok()? {
        pb::InteractionChannel::Ticket => Some(InteractionChannel::Ticket),
        pb::InteractionChannel::Chat => Some(InteractionChannel::Chat),
        pb::InteractionChannel::Call => Some(InteractionChannel::Call),
        pb::InteractionChannel::Email => Some(InteractionChannel::Email),
        pb::InteractionChannel::Unspecified => None,
    }
}

/// What a page token is bound to: every field but the token, hashed, so that a token
/// carries no word of the query.
fn fingerprint(fields: &Fields<'_>) -> String {
    let mut hash = Sha256::new();
    let time = |t: Option<&prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));
    let bound = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{}\n",
        fields.customer.map(CustomerId::get),
        fields.channels,
        time(fields.sent_after),
        time(fields.sent_before),
        fields.page_size,
    );
    hash.update(bound.as_bytes());
    hash.update(fields.query.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..12])
}

fn page_token(fields: &Fields<'_>, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{offset}", fingerprint(fields)))
}

fn offset(fields: &Fields<'_>) -> Checked<usize> {
    if fields.page_token.is_empty() {
        return Ok(0);
    }
    let invalid = || {
        vec![Violation::new(
            "page_token",
            "is not a token this search gave, with these fields",
        )]
    };
    let text = URL_SAFE_NO_PAD
        .decode(fields.page_token)
        .ok()
        .and_then(|t| String::from_utf8(t).ok())
        .ok_or_else(invalid)?;
    let (bound, offset) = text.split_once('.').ok_or_else(invalid)?;
    match (bound == fingerprint(fields), offset.parse()) {
        (true, Ok(offset)) if offset <= MAX_DEPTH => Ok(offset),
        _ => Err(invalid()),
    }
}

fn check(fields: &Fields<'_>) -> Checked<Asked> {
    let query = Query::parse(fields.query).map_err(|e| vec![Violation::new("query", e)]);
    let channels: Checked<Vec<InteractionChannel>> = fields
        .channels
        .iter()
        .enumerate()
        .map(|(i, &raw)| {
            channel(raw)
                .ok_or_else(|| vec![Violation::new(format!("channels[{i}]"), "is not a channel")])
        })
        .collect();
    let limit = match fields.page_size {
        0 => Ok(DEFAULT_PAGE),
        1..=MAX_PAGE => Ok(fields.page_size as usize),
        _ => Err(vec![Violation::new("page_size", "must be from 0 to 100")]),
    };
    let times = both(
        time("sent_after", fields.sent_after),
        time("sent_before", fields.sent_before),
    );
    let (((query, channels), (limit, offset)), (since, until)) = both(
        both(both(query, channels), both(limit, offset(fields))),
        times,
    )?;
    Ok(Asked {
        query,
        channels,
        since,
        until,
        limit,
        offset,
    })
}

impl HistoryApi {
    /// Searches `history`.
    pub fn new(history: Arc<History>) -> Self {
        Self {
            history,
            audit: Audit::off(),
        }
    }

    /// Waits until the index made at start answers, or for `at_most`; whether it does.
    pub async fn ready_within(&self, at_most: std::time::Duration) -> bool {
        self.history.ready_within(at_most).await
    }

    /// The same, every search recorded in `audit`.
    pub fn audited(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    async fn search<T>(
        &self,
        request: &Request<T>,
        rpc: &'static str,
        fields: Fields<'_>,
    ) -> Result<pb::SearchHistoryResponse, ApiError> {
        let trail = Trail::of(request);
        let outcome = self.answer(request, &fields).await;
        if self.audit.is_on() {
            let customers = match (&outcome, fields.customer) {
                (_, Some(customer)) => vec![customer.to_string()],
                (Ok(found), None) => {
                    let mut ids: Vec<String> =
                        found.hits.iter().map(|h| h.customer_id.clone()).collect();
                    ids.sort();
                    ids.dedup();
                    ids
                }
                (Err(_), None) => Vec::new(),
            };
            let sections = SectionSet::of(&[Section::Interactions]);
            let served = outcome.as_ref().map(|_| None);
            let mut record = trail.record(rpc, customers, sections, served);
            if let Ok(found) = &outcome {
                record.search = Some(format!("{} hits of {}", found.hits.len(), found.total_size));
            }
            self.audit.record(&record);
        }
        outcome
    }

    async fn answer<T>(
        &self,
        request: &Request<T>,
        fields: &Fields<'_>,
    ) -> Result<pb::SearchHistoryResponse, ApiError> {
        let (asked, deadline) = both(check(fields), validate::deadline(request.metadata()))?;
        if !grant_of(request).sections.contains(Section::Interactions) {
            return Err(ApiError::PermissionDenied(
                "history search reads interactions, which your roles do not grant".into(),
            ));
        }
        let history = self.history.clone();
        // A replica just started makes its index first: a search that has time waits for it.
        let wait = deadline.map_or(READY_WAIT, |d| {
            d.saturating_duration_since(tokio::time::Instant::now())
                .min(READY_WAIT)
        });
        history.ready_within(wait).await;
        let search = Search {
            customer: fields.customer,
            query: asked.query,
            channels: asked.channels,
            since: asked.since,
            until: asked.until,
            offset: asked.offset,
            limit: asked.limit,
        };
        let found = tokio::task::spawn_blocking(move || history.search(&search))
            .await
            .map_err(|_| ApiError::Unavailable("the history search failed".into()))?
            .map_err(|error| match error {
                SearchError::Building(_) => ApiError::Unavailable(error.to_string()),
                SearchError::Index(error) => {
                    tracing::error!(%error, "history search: the index failed");
                    ApiError::Unavailable("the history index failed".into())
                }
            })?;
        let next = asked.offset + found.hits.len();
        let more = next < found.total.min(MAX_DEPTH) && !found.hits.is_empty();
        Ok(pb::SearchHistoryResponse {
            next_page_token: if more {
                page_token(fields, next)
            } else {
                String::new()
            },
            total_size: i32::try_from(found.total).unwrap_or(i32::MAX),
            hits: hits(found),
        })
    }
}

fn hits(found: Found) -> Vec<pb::HistoryHit> {
    found
        .hits
        .into_iter()
        .map(|hit| {
            let m = hit.message;
            pb::HistoryHit {
                customer_id: m.customer_id.to_string(),
                interaction_id: m.interaction_id.to_string(),
                channel: pb::InteractionChannel::from(m.channel).into(),
                message_id: m.id.to_string(),
                kind: match m.kind {
                    MessageKind::Message => pb::HistoryMessageKind::Message,
                    MessageKind::Transcript => pb::HistoryMessageKind::Transcript,
                    MessageKind::Note => pb::HistoryMessageKind::Note,
                }
                .into(),
                author: match m.author {
                    MessageAuthor::Customer => pb::HistoryAuthor::Customer,
                    MessageAuthor::Agent => pb::HistoryAuthor::Agent,
                }
                .into(),
                sent_at: Some(timestamp(m.sent_at)),
                score: hit.score,
                snippet: hit
                    .snippet
                    .into_iter()
                    .map(|p| pb::SnippetPart {
                        text: p.text,
                        matched: p.matched,
                    })
                    .collect(),
            }
        })
        .collect()
}

#[tonic::async_trait]
impl pb::server::history_service_server::HistoryService for HistoryApi {
    async fn search_history(
        &self,
        request: Request<pb::SearchHistoryRequest>,
    ) -> Result<Response<pb::SearchHistoryResponse>, Status> {
        let call = call::context(&request).cloned();
        let work = async {
            let r = request.get_ref();
            let customer = validate::key::<CustomerId>("customer_id", &r.customer_id)
                .map_err(ApiError::from)?;
            let fields = fields!(Some(customer), r);
            self.search(&request, "SearchHistory", fields).await
        };
        rpc("SearchHistory", call, work).await
    }

    async fn search_all_history(
        &self,
        request: Request<pb::SearchAllHistoryRequest>,
    ) -> Result<Response<pb::SearchHistoryResponse>, Status> {
        let call = call::context(&request).cloned();
        let work = async {
            let r = request.get_ref();
            let fields = fields!(None, r);
            self.search(&request, "SearchAllHistory", fields).await
        };
        rpc("SearchAllHistory", call, work).await
    }
}
