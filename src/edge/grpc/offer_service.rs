//! `customer360.v1.OfferService`: the envelope of what the caller may offer a customer, offers
//! recorded against it, approved or rejected by a supervisor, and the ledger listed for the
//! systems that carry offers out. The caller is the one the door let in, its limits its roles'
//! (with authentication off, `anonymous` with `offers.unauthenticated_role`'s). Every call is
//! audited. The rules are `core::offers`.

mod ledger;
mod watch;
mod wire;

use std::sync::Arc;

use c360_proto as pb;
use tonic::{Request, Response, Status};

use super::{
    authorize::{Trail, admitted, grant_of},
    call, rpc,
    status::{ApiError, Violation},
    validate,
};
use crate::{
    core::{
        attention::Rules,
        offers::{Asked, Context, Envelope, Facts, OfferRules, OfferState, OfferTail, Recorded},
        read::{Freshness, Profiles},
        vocab::{CustomerId, Section, SectionSet, Timestamp},
    },
    edge::audit::Audit,
};

/// The sections an envelope is made from: a caller must be granted them all.
const READS: [Section; 4] = [
    Section::Billing,
    Section::Orders,
    Section::Shipments,
    Section::Interactions,
];

/// Watches of the ledger one replica holds at once.
pub(super) const MAX_WATCHES: usize = 1000;

/// Serves offers.
#[derive(Clone)]
pub struct OfferApi {
    profiles: Profiles,
    tail: Arc<OfferTail>,
    rules: Arc<OfferRules>,
    problems: Arc<Rules>,
    audit: Audit,
    watches: Arc<tokio::sync::Semaphore>,
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for OfferApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfferApi").finish_non_exhaustive()
    }
}

/// Who calls, and the roles whose limits are its.
struct Caller {
    name: String,
    roles: Vec<String>,
}

pub(super) fn store_failed(error: &sqlx::Error) -> ApiError {
    tracing::warn!(%error, "offers: the ledger's tables did not answer");
    ApiError::Unavailable("the offers' database did not answer".into())
}

pub(super) fn now() -> Timestamp {
    chrono::Utc::now()
}

impl OfferApi {
    /// Envelopes from `profiles` under `rules` (a problem is found by the attention queue's
    /// `problems` rules), offers kept in the ledger `tail` follows.
    pub fn new(
        profiles: Profiles,
        tail: Arc<OfferTail>,
        rules: OfferRules,
        problems: Rules,
    ) -> Self {
        Self {
            profiles,
            tail,
            rules: Arc::new(rules),
            problems: Arc::new(problems),
            audit: Audit::off(),
            watches: Arc::new(tokio::sync::Semaphore::new(MAX_WATCHES)),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// The ledger, as this replica follows it.
    pub fn tail(&self) -> Arc<OfferTail> {
        self.tail.clone()
    }

    /// The replica is shutting down: every watch of the ledger ends (`UNAVAILABLE`, so that
    /// its caller watches another replica).
    pub fn close_watches(&self) {
        self.closing.send_replace(true);
    }

    /// The same, every call recorded in `audit`.
    pub fn audited(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    fn caller<T>(&self, request: &Request<T>) -> Caller {
        match admitted(request) {
            Some(admitted) => Caller {
                name: admitted.caller.name.clone(),
                roles: admitted.caller.roles.clone(),
            },
            None => Caller {
                name: "anonymous".into(),
                roles: vec![self.rules.unauthenticated_role.clone()],
            },
        }
    }

    /// What the customer's cached profile shows of its problems now. The caller must be
    /// granted every section the problems are read from.
    async fn facts<T>(
        &self,
        request: &Request<T>,
        customer: CustomerId,
    ) -> Result<Facts, ApiError> {
        let grant = grant_of(request);
        let denied: Vec<&str> = (READS.iter())
            .filter(|s| !grant.sections.contains(**s))
            .map(|s| s.path())
            .collect();
        if !denied.is_empty() {
            return Err(ApiError::PermissionDenied(format!(
                "an envelope reads {}, which your roles do not grant",
                denied.join(", ")
            )));
        }
        let deadline = validate::deadline(request.metadata())?;
        let served = (self.profiles)
            .get(
                customer,
                SectionSet::of(&READS),
                Freshness::AnyAge,
                deadline,
            )
            .await?;
        let encoded = &served.entry.encoded;
        let shown = encoded.shown().unwrap_or_default();
        Ok(Facts::read(encoded, &shown, &self.problems, now()))
    }

    /// The envelope of `facts` for `caller` at `now`, with the ledger as it is.
    async fn envelope(
        &self,
        facts: &Facts,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Envelope, ApiError> {
        let made = self
            .tail
            .store()
            .made(facts.customer)
            .await
            .map_err(|e| store_failed(&e))?;
        let spent = match facts.currency {
            Some(currency) => (self
                .tail
                .store()
                .spent_today(&caller.name, currency, now)
                .await)
                .map_err(|e| store_failed(&e))?,
            None => 0,
        };
        Ok(Envelope::new(
            facts,
            &self.context(facts, caller, &made, spent, now),
        ))
    }

    fn context<'a>(
        &self,
        facts: &Facts,
        caller: &Caller,
        made: &'a [crate::core::offers::Offer],
        spent_today: i64,
        now: Timestamp,
    ) -> Context<'a> {
        let (limits, top) = match facts.currency {
            Some(currency) => (
                self.rules.limits(&caller.roles, currency),
                self.rules.top(currency),
            ),
            None => Default::default(),
        };
        Context {
            limits,
            top,
            made,
            spent_today,
            refund_period: chrono::Duration::from_std(self.rules.refund_period)
                .unwrap_or(chrono::Duration::MAX),
            now,
        }
    }

    async fn get_envelope(
        &self,
        request: Request<pb::GetOfferEnvelopeRequest>,
    ) -> Result<pb::OfferEnvelope, ApiError> {
        let (trail, caller) = (Trail::of(&request), self.caller(&request));
        let customer = validate::key::<CustomerId>("customer_id", &request.get_ref().customer_id);
        let answer = match customer {
            Err(violations) => Err(ApiError::from(violations)),
            Ok(customer) => match self.facts(&request, customer).await {
                Ok(facts) => self.envelope(&facts, &caller, now()).await,
                Err(error) => Err(error),
            },
        };
        let said = answer.as_ref().ok().map(|envelope| {
            let problems: Vec<&str> = envelope.problems.iter().map(|p| &*p.problem.id).collect();
            format!("problems: {}", problems.join(" "))
        });
        self.audit_call(
            &trail,
            "GetOfferEnvelope",
            &request.get_ref().customer_id,
            &answer,
            said,
        );
        answer.map(|envelope| wire::envelope(&envelope))
    }

    async fn record(
        &self,
        request: Request<pb::RecordOfferRequest>,
    ) -> Result<pb::Offer, ApiError> {
        let (trail, caller) = (Trail::of(&request), self.caller(&request));
        let answer = match wire::asked(request.get_ref()) {
            Err(violations) => Err(ApiError::from(violations)),
            Ok(offer) => self.recorded(&request, &trail, &caller, offer).await,
        };
        let said = answer.as_ref().ok().map(|offer| {
            let amount = match (&offer.amount, offer.percent) {
                (Some(m), _) => format!(" {} {}", m.amount_minor, m.currency_code),
                (None, 0) => String::new(),
                (None, percent) => format!(" {percent}%"),
            };
            format!(
                "{} {:?}{amount} {:?} {}",
                offer.problem_id,
                offer.kind(),
                offer.state(),
                offer.offer_id
            )
        });
        self.audit_call(
            &trail,
            "RecordOffer",
            &request.get_ref().customer_id,
            &answer,
            said,
        );
        answer
    }

    async fn recorded<T>(
        &self,
        request: &Request<T>,
        trail: &Trail,
        caller: &Caller,
        asked: wire::AskedOffer,
    ) -> Result<pb::Offer, ApiError> {
        let facts = self.facts(request, asked.customer).await?;
        let now = now();
        let record = Asked {
            customer: asked.customer,
            problem: asked.problem,
            kind: asked.kind,
            amount: asked.amount,
            agent: caller.name.clone(),
            request_id: trail.request_id(),
            client_key: asked.client_key,
            now,
        };
        let judge = |made: &[crate::core::offers::Offer], spent: i64| {
            let context = self.context(&facts, caller, made, spent, now);
            Envelope::new(&facts, &context).judge(&record.problem, record.kind, record.amount)
        };
        match self
            .tail
            .store()
            .record(&record, judge)
            .await
            .map_err(|e| store_failed(&e))?
        {
            Recorded::New(offer) | Recorded::Again(offer) => Ok(wire::offer(&offer)),
            Recorded::KeyReused => Err(ApiError::from(Violation::new(
                "request_id",
                "was used for another offer: a new offer takes a new key",
            ))),
            Recorded::Refused(refusal) => Err(wire::refused(refusal)),
        }
    }

    pub(super) fn audit_call<T>(
        &self,
        trail: &Trail,
        rpc: &'static str,
        customer: &str,
        answer: &Result<T, ApiError>,
        said: Option<String>,
    ) {
        if !self.audit.is_on() {
            return;
        }
        let customers = match customer.is_empty() {
            true => Vec::new(),
            false => vec![customer.to_owned()],
        };
        let sections = match rpc {
            "GetOfferEnvelope" | "RecordOffer" => SectionSet::of(&READS),
            _ => SectionSet::NONE,
        };
        let mut record = trail.record(rpc, customers, sections, answer.as_ref().map(|_| None));
        record.offer = said;
        self.audit.record(&record);
    }
}

#[tonic::async_trait]
impl pb::server::offer_service_server::OfferService for OfferApi {
    async fn get_offer_envelope(
        &self,
        request: Request<pb::GetOfferEnvelopeRequest>,
    ) -> Result<Response<pb::OfferEnvelope>, Status> {
        let call = call::context(&request).cloned();
        rpc("GetOfferEnvelope", call, self.get_envelope(request)).await
    }

    async fn record_offer(
        &self,
        request: Request<pb::RecordOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let call = call::context(&request).cloned();
        rpc("RecordOffer", call, self.record(request)).await
    }

    async fn approve_offer(
        &self,
        request: Request<pb::ApproveOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let call = call::context(&request).cloned();
        let id = request.get_ref().offer_id.clone();
        let settle = self.settle("ApproveOffer", request, &id, OfferState::Approved);
        rpc("ApproveOffer", call, settle).await
    }

    async fn reject_offer(
        &self,
        request: Request<pb::RejectOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let call = call::context(&request).cloned();
        let id = request.get_ref().offer_id.clone();
        let settle = self.settle("RejectOffer", request, &id, OfferState::Rejected);
        rpc("RejectOffer", call, settle).await
    }

    type WatchOffersStream = watch::OfferStream;

    async fn watch_offers(
        &self,
        request: Request<pb::WatchOffersRequest>,
    ) -> Result<Response<watch::OfferStream>, Status> {
        let call = call::context(&request).cloned();
        rpc("WatchOffers", call, self.watch(request)).await
    }

    async fn list_offers(
        &self,
        request: Request<pb::ListOffersRequest>,
    ) -> Result<Response<pb::ListOffersResponse>, Status> {
        let call = call::context(&request).cloned();
        rpc("ListOffers", call, self.list(request)).await
    }
}
