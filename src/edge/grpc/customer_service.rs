//! `customer360.v1.CustomerService`: profiles, batches of them, lookups; the watch is in
//! `watch.rs`.

use std::sync::Arc;

use c360_proto::{self as pb, WireBatch, WireProfile, lookup_customers_request::Key};
use futures::{StreamExt, TryStreamExt, stream};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::{
    authorize::{self, Trail},
    call, rpc,
    status::{ApiError, Violation},
    validate::{self, Checked, both},
    watch::{ProfileStream, Standing, WatchSlots},
};
use crate::{
    core::fanout::Priority,
    core::offers::OfferTail,
    core::queries::{LookupKey, Queries},
    core::read::{Freshness, Profiles, Served},
    core::vocab::{CustomerId, FieldSet, Section, SectionSet},
    edge::audit::{self, Audit},
    edge::auth::Presented,
};

/// Profiles of a batch read at once: hits go by at once, loads a few at a time.
const BATCH_CONCURRENCY: usize = 16;

/// Serves profiles and lookups.
#[derive(Debug, Clone)]
pub struct CustomerApi {
    pub(super) profiles: Profiles,
    queries: Queries,
    /// Where each profile read and lookup is recorded.
    pub(super) audit: Audit,
    /// The watch streams open, in all and per caller, and their limits.
    pub(super) watches: Arc<WatchSlots>,
    /// The offers made, shown with the insights, when offers are on.
    pub(super) offers: Option<Arc<OfferTail>>,
}

impl CustomerApi {
    /// Profiles from `profiles`; lookups through `queries`; at most `max_watch_streams`
    /// watches open at once, of which one caller may hold `per_caller`.
    pub fn new(
        profiles: Profiles,
        queries: Queries,
        max_watch_streams: usize,
        per_caller: usize,
    ) -> Self {
        Self {
            profiles,
            queries,
            watches: Arc::new(WatchSlots::new(max_watch_streams, per_caller)),
            audit: Audit::off(),
            offers: None,
        }
    }

    /// The same, the offers `tail` follows shown with the insights.
    pub fn with_offers(mut self, tail: Option<Arc<OfferTail>>) -> Self {
        self.offers = tail;
        self
    }

    /// The same, each profile read and lookup recorded in `audit`.
    pub fn audited(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    async fn get(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<WireProfile, ApiError> {
        let trail = Trail::of(&request);
        let (customer, read) =
            ReadOptions::checked(request, |r| validate::key("customer_id", &r.customer_id))?;
        let served = self
            .read(
                customer,
                read,
                Priority::Interactive,
                &trail,
                "GetCustomerProfile",
            )
            .await?;
        Ok(wire(
            &served,
            read.sections,
            read.hidden,
            self.offers.as_deref(),
        ))
    }

    async fn batch_get(
        &self,
        request: Request<pb::BatchGetCustomerProfilesRequest>,
    ) -> Result<WireBatch, ApiError> {
        let trail = Trail::of(&request);
        let (customers, read) = ReadOptions::checked(request, |r| {
            validate::keys::<CustomerId>("customer_ids", &r.customer_ids, validate::MAX_BATCH)
        })?;
        // Each customer is read once, however often the batch names it; the answer repeats
        // it where it was asked.
        let mut distinct = customers.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // Its loads are bulk work, a few at a time: a batch of misses is shed before it
        // crowds out single reads.
        let reads = distinct.iter().copied().map(|customer| {
            self.read(
                customer,
                read,
                Priority::Bulk,
                &trail,
                "BatchGetCustomerProfiles",
            )
        });
        let served: Vec<Served> = stream::iter(reads)
            .buffered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        let answer = |customer: &CustomerId| {
            let at = distinct.binary_search(customer).expect("read above");
            wire(
                &served[at],
                read.sections,
                read.hidden,
                self.offers.as_deref(),
            )
        };
        Ok(WireBatch::of(customers.iter().map(answer).collect()))
    }

    /// One profile read, audited.
    async fn read(
        &self,
        customer: CustomerId,
        read: ReadOptions,
        priority: Priority,
        trail: &Trail,
        rpc: &'static str,
    ) -> Result<Served, ApiError> {
        let served = self
            .profiles
            .get_as(
                customer,
                read.sections,
                read.freshness,
                read.deadline,
                priority,
            )
            .await
            .map_err(ApiError::from);
        if let Ok(served) = &served {
            trail.note_served(served.from);
        }
        if self.audit.is_on() {
            let outcome = served.as_ref().map(|s| Some(s.from));
            let record = trail.record(rpc, vec![customer.to_string()], read.sections, outcome);
            self.audit.record(&record);
        }
        served
    }

    async fn lookup(
        &self,
        request: Request<pb::LookupCustomersRequest>,
    ) -> Result<pb::LookupCustomersResponse, ApiError> {
        let deadline = validate::deadline(request.metadata());
        let trail = Trail::of(&request);
        let identity_granted = authorize::grant_of(&request)
            .sections
            .contains(Section::Identity);
        let request = request.into_inner();
        let (key, deadline) = both(lookup_key(request.key), deadline)?;
        let masked = match &key {
            LookupKey::Email(email) => audit::mask_email(email.as_str()),
            LookupKey::Phone(phone) => audit::mask_phone(phone.as_str()),
            LookupKey::Order(order) => format!("order {order}"),
        };
        let matches = self.queries.find_customers(key, deadline).await;
        if self.audit.is_on() {
            let (found, outcome) = match &matches {
                Ok(found) => (
                    found.iter().map(|m| m.customer.to_string()).collect(),
                    Ok(None),
                ),
                Err(error) => (Vec::new(), Err(ApiError::from(error.clone()))),
            };
            let identity = SectionSet::of(&[Section::Identity]);
            let sections = if identity_granted {
                identity
            } else {
                SectionSet::NONE
            };
            let mut record = trail.record(
                "LookupCustomers",
                found,
                sections,
                outcome.as_ref().map(|o| *o),
            );
            record.key = Some(masked);
            self.audit.record(&record);
        }
        let matches = matches?;
        Ok(pb::LookupCustomersResponse {
            customers: matches
                .into_iter()
                .map(|found| pb::CustomerMatch {
                    customer_id: found.customer.to_string(),
                    // The ids only, to a caller whose roles do not grant identities.
                    identity: found
                        .identity
                        .as_ref()
                        .filter(|_| identity_granted)
                        .map(Into::into),
                })
                .collect(),
        })
    }
}

/// The one key a lookup names.
fn lookup_key(key: Option<Key>) -> Checked<LookupKey> {
    match key {
        None => Err(vec![Violation::new(
            "key",
            "set one of email, phone or order_id",
        )]),
        Some(Key::Email(raw)) => validate::key("email", &raw).map(LookupKey::Email),
        Some(Key::Phone(raw)) => validate::key("phone", &raw).map(LookupKey::Phone),
        Some(Key::OrderId(raw)) => validate::key("order_id", &raw).map(LookupKey::Order),
    }
}

/// What a profile read asks for, beside its customers: the fields `GetCustomerProfile` and
/// `BatchGetCustomerProfiles` share.
trait ReadRequest {
    fn read_mask(&self) -> Option<&prost_types::FieldMask>;
    fn max_age(&self) -> Option<&prost_types::Duration>;
    fn bypass_cache(&self) -> bool;
}

/// Both profile reads carry the three fields under the same names.
macro_rules! read_request {
    ($($request:ty),+) => {$(
        impl ReadRequest for $request {
            fn read_mask(&self) -> Option<&prost_types::FieldMask> {
                self.read_mask.as_ref()
            }
            fn max_age(&self) -> Option<&prost_types::Duration> {
                self.max_age.as_ref()
            }
            fn bypass_cache(&self) -> bool {
                self.bypass_cache
            }
        }
    )+};
}

read_request!(
    pb::GetCustomerProfileRequest,
    pb::BatchGetCustomerProfilesRequest
);

/// How a profile read is to be done.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadOptions {
    pub(super) sections: SectionSet,
    hidden: FieldSet,
    freshness: Freshness,
    deadline: Option<Instant>,
}

impl ReadOptions {
    /// The customers of `request` (checked by `customers`) and how to read them; every bad
    /// field, the `grpc-timeout` header included, reported at once.
    fn checked<R: ReadRequest, C>(
        request: Request<R>,
        customers: impl FnOnce(&R) -> Checked<C>,
    ) -> Result<(C, Self), ApiError> {
        let deadline = validate::deadline(request.metadata());
        let grant = authorize::grant_of(&request);
        let request = request.into_inner();
        let options = both(
            both(
                validate::read_mask(request.read_mask()),
                validate::freshness(request.max_age(), request.bypass_cache()),
            ),
            deadline,
        );
        let (customers, ((sections, freshness), deadline)) = both(customers(&request), options)?;
        let named = authorize::names_sections(request.read_mask());
        let sections = authorize::sections(grant, sections, named)?;
        let freshness = authorize::freshness(grant, freshness)?;
        let read = Self {
            sections,
            hidden: grant.hidden,
            freshness,
            deadline,
        };
        Ok((customers, read))
    }
}

/// The answer to a read of `sections` less the `hidden` fields, as it goes on the wire.
/// With the insights, the offers made to the customer, as `offers` follows them: a field of
/// their own after the cached ones.
pub(super) fn wire(
    served: &Served,
    sections: SectionSet,
    hidden: FieldSet,
    offers: Option<&OfferTail>,
) -> WireProfile {
    let entry = &served.entry;
    let mut wire = (entry.encoded).wire(sections, hidden, served.from, entry.age());
    if let Some(offers) = offers
        && sections.contains(Section::Insights)
        && entry.encoded.has(Section::Insights)
        && let Some(made) = offers.made(entry.encoded.customer())
    {
        wire.push(made);
    }
    wire
}

#[tonic::async_trait]
impl pb::server::customer_service_server::CustomerService for CustomerApi {
    async fn get_customer_profile(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<Response<WireProfile>, Status> {
        rpc(
            "GetCustomerProfile",
            call::context(&request).cloned(),
            self.get(request),
        )
        .await
    }

    async fn batch_get_customer_profiles(
        &self,
        request: Request<pb::BatchGetCustomerProfilesRequest>,
    ) -> Result<Response<WireBatch>, Status> {
        rpc(
            "BatchGetCustomerProfiles",
            call::context(&request).cloned(),
            self.batch_get(request),
        )
        .await
    }

    async fn lookup_customers(
        &self,
        request: Request<pb::LookupCustomersRequest>,
    ) -> Result<Response<pb::LookupCustomersResponse>, Status> {
        rpc(
            "LookupCustomers",
            call::context(&request).cloned(),
            self.lookup(request),
        )
        .await
    }

    type WatchCustomerProfileStream = ProfileStream;

    async fn watch_customer_profile(
        &self,
        request: Request<pb::WatchCustomerProfileRequest>,
    ) -> Result<Response<ProfileStream>, Status> {
        let (grant, trail) = (authorize::grant_of(&request), Trail::of(&request));
        let admitted = authorize::admitted(&request).cloned();
        let presented = request.extensions().get::<Presented>().cloned();
        let standing = Standing {
            admitted,
            presented,
        };
        rpc(
            "WatchCustomerProfile",
            call::context(&request).cloned(),
            self.watch(request.into_inner(), grant, standing, trail),
        )
        .await
    }
}
