//! `customer360.v1.CustomerService`.

use std::pin::Pin;

use futures::{Stream, future::try_join_all};
use tokio::{
    sync::{
        broadcast::error::{RecvError, TryRecvError},
        mpsc,
    },
    time::Instant,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{
    status::ApiError,
    validate::{self, both},
};
use crate::{
    cache::Change,
    keys::{CustomerId, Email, OrderId, Phone},
    pb::{self, lookup_customers_request::Key},
    profile::{Identity, SectionSet},
    profiles::{Freshness, Profiles, Served},
    sources::{CrmSource, OrdersSource},
    wire::{WireBatch, WireProfile},
};

/// Serves profiles and lookups.
#[derive(Debug, Clone)]
pub struct CustomerApi {
    profiles: Profiles,
    crm: CrmSource,
    orders: OrdersSource,
}

impl CustomerApi {
    /// Profiles from `profiles`; lookups in `crm` and `orders`.
    pub fn new(profiles: Profiles, crm: CrmSource, orders: OrdersSource) -> Self {
        Self {
            profiles,
            crm,
            orders,
        }
    }

    async fn get(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<WireProfile, ApiError> {
        let deadline = validate::deadline(request.metadata());
        let request = request.into_inner();
        let (customer, read) = both(
            validate::key::<CustomerId>("customer_id", &request.customer_id),
            ReadOptions::check(
                request.read_mask.as_ref(),
                request.max_age.as_ref(),
                request.bypass_cache,
                deadline,
            ),
        )?;
        let served = self.read(customer, read).await?;
        Ok(wire(&served, read.sections))
    }

    async fn batch_get(
        &self,
        request: Request<pb::BatchGetCustomerProfilesRequest>,
    ) -> Result<WireBatch, ApiError> {
        let deadline = validate::deadline(request.metadata());
        let request = request.into_inner();
        let (customers, read) = both(
            validate::keys::<CustomerId>(
                "customer_ids",
                &request.customer_ids,
                validate::MAX_BATCH,
            ),
            ReadOptions::check(
                request.read_mask.as_ref(),
                request.max_age.as_ref(),
                request.bypass_cache,
                deadline,
            ),
        )?;
        let served = try_join_all(
            customers
                .into_iter()
                .map(|customer| self.read(customer, read)),
        )
        .await?;
        let profiles: Vec<WireProfile> = served.iter().map(|s| wire(s, read.sections)).collect();
        Ok(WireBatch::of(profiles))
    }

    async fn read(&self, customer: CustomerId, read: ReadOptions) -> Result<Served, ApiError> {
        let served = self
            .profiles
            .get(customer, read.sections, read.freshness, read.deadline)
            .await?;
        Ok(served)
    }

    async fn lookup(
        &self,
        request: pb::LookupCustomersRequest,
    ) -> Result<pb::LookupCustomersResponse, ApiError> {
        let matches = match request.key {
            None => {
                return Err(validate_error("key", "set one of email, phone or order_id"));
            }
            Some(Key::Email(raw)) => {
                let email: Email = validate::key("email", &raw)?;
                known(self.crm.find_by_email(&email).await?)
            }
            Some(Key::Phone(raw)) => {
                let phone: Phone = validate::key("phone", &raw)?;
                known(self.crm.find_by_phone(&phone).await?)
            }
            Some(Key::OrderId(raw)) => {
                let order: OrderId = validate::key("order_id", &raw)?;
                self.customer_of_order(order).await?
            }
        };
        Ok(pb::LookupCustomersResponse {
            customers: matches
                .into_iter()
                .map(|(id, identity)| pb::CustomerMatch {
                    customer_id: id.to_string(),
                    identity: identity.as_ref().map(Into::into),
                })
                .collect(),
        })
    }

    /// The customer who placed `order`, with their identity if CRM answers.
    async fn customer_of_order(
        &self,
        order: OrderId,
    ) -> Result<Vec<(CustomerId, Option<Identity>)>, ApiError> {
        let Some(detail) = self.orders.order(order).await? else {
            return Ok(Vec::new());
        };
        // The order names the customer: CRM failing costs the identity, not the answer.
        let identity = self
            .crm
            .identity(detail.customer)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(error = %crate::fanout::error_chain(&error), "identity for lookup");
                None
            });
        Ok(vec![(detail.customer, identity)])
    }
}

/// How a profile read is to be done: the fields `Get` and `BatchGet` share.
#[derive(Debug, Clone, Copy)]
struct ReadOptions {
    sections: SectionSet,
    freshness: Freshness,
    deadline: Option<Instant>,
}

impl ReadOptions {
    fn check(
        read_mask: Option<&prost_types::FieldMask>,
        max_age: Option<&prost_types::Duration>,
        bypass_cache: bool,
        deadline: validate::Checked<Option<Instant>>,
    ) -> validate::Checked<Self> {
        let ((sections, freshness), deadline) = both(
            both(
                validate::read_mask(read_mask),
                validate::freshness(max_age, bypass_cache),
            ),
            deadline,
        )?;
        Ok(Self {
            sections,
            freshness,
            deadline,
        })
    }
}

fn known(matches: Vec<(CustomerId, Identity)>) -> Vec<(CustomerId, Option<Identity>)> {
    matches
        .into_iter()
        .map(|(id, identity)| (id, Some(identity)))
        .collect()
}

fn validate_error(field: &str, description: &str) -> ApiError {
    ApiError::InvalidArgument(vec![super::status::Violation::new(field, description)])
}

fn wire(served: &Served, sections: SectionSet) -> WireProfile {
    served
        .entry
        .encoded
        .wire(sections, served.tier, served.entry.age())
}

/// A watch: the profile after each change, as long as the caller listens.
type ProfileStream = Pin<Box<dyn Stream<Item = Result<WireProfile, Status>> + Send>>;

impl CustomerApi {
    async fn watch(
        &self,
        request: pb::WatchCustomerProfileRequest,
    ) -> Result<ProfileStream, ApiError> {
        let (customer, sections) = both(
            validate::key::<CustomerId>("customer_id", &request.customer_id),
            validate::read_mask(request.read_mask.as_ref()),
        )?;
        // Subscribed before the first read: no change can slip between the two.
        let mut changes = self.profiles.subscribe();
        let first = self
            .profiles
            .get(customer, sections, Freshness::AnyAge, None)
            .await?;
        // Room for one profile: a slow reader holds up only its own next read, and that read
        // then takes in every change made meanwhile.
        let (sender, receiver) = mpsc::channel(1);
        let _ = sender.try_send(Ok(wire(&first, sections)));
        let profiles = self.profiles.clone();
        tokio::spawn(async move {
            loop {
                let change = tokio::select! {
                    () = sender.closed() => return,
                    change = changes.recv() => change,
                };
                match change {
                    Ok(Change::Customer(id)) if id != customer => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                // Changes that queued up while the last profile waited for the reader are all
                // covered by the one read below.
                loop {
                    match changes.try_recv() {
                        Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Closed) => return,
                    }
                }
                let next = profiles
                    .get(customer, sections, Freshness::AnyAge, None)
                    .await
                    .map(|served| wire(&served, sections))
                    .map_err(|error| Status::from(ApiError::from(error)));
                let ended = next.is_err();
                if sender.send(next).await.is_err() || ended {
                    return;
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }
}

#[tonic::async_trait]
impl pb::server::customer_service_server::CustomerService for CustomerApi {
    async fn get_customer_profile(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<Response<WireProfile>, Status> {
        let span =
            tracing::debug_span!("GetCustomerProfile", customer = %request.get_ref().customer_id);
        Ok(Response::new(self.get(request).instrument(span).await?))
    }

    async fn batch_get_customer_profiles(
        &self,
        request: Request<pb::BatchGetCustomerProfilesRequest>,
    ) -> Result<Response<WireBatch>, Status> {
        let span = tracing::debug_span!(
            "BatchGetCustomerProfiles",
            count = request.get_ref().customer_ids.len()
        );
        Ok(Response::new(
            self.batch_get(request).instrument(span).await?,
        ))
    }

    async fn lookup_customers(
        &self,
        request: Request<pb::LookupCustomersRequest>,
    ) -> Result<Response<pb::LookupCustomersResponse>, Status> {
        let span = tracing::debug_span!("LookupCustomers");
        let request = request.into_inner();
        Ok(Response::new(self.lookup(request).instrument(span).await?))
    }

    type WatchCustomerProfileStream = ProfileStream;

    async fn watch_customer_profile(
        &self,
        request: Request<pb::WatchCustomerProfileRequest>,
    ) -> Result<Response<ProfileStream>, Status> {
        let span =
            tracing::debug_span!("WatchCustomerProfile", customer = %request.get_ref().customer_id);
        Ok(Response::new(
            self.watch(request.into_inner()).instrument(span).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::{
        db::{Db, PoolOptions},
        profile::fixtures,
        profiles::tests::profiles,
        sources::{SourceData, SourceKind, fake::fake_sources},
    };

    fn unused_db() -> Db {
        Db::connect_lazy("sqlite:///nonexistent/unused.db", PoolOptions::default())
            .expect("lazy pool")
    }

    #[tokio::test]
    async fn a_slow_watcher_gets_the_latest_profile_not_a_backlog() {
        let (sources, fakes) = fake_sources(|f| f);
        let crm = fakes[SourceKind::Crm.index()].clone();
        let profiles = profiles(sources);
        let api = CustomerApi::new(
            profiles.clone(),
            CrmSource::new(unused_db()),
            OrdersSource::new(unused_db()),
        );
        let request = pb::WatchCustomerProfileRequest {
            customer_id: fixtures::customer().to_string(),
            read_mask: None,
        };
        let mut stream = api.watch(request).await.expect("a watch");
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
            let profile =
                <pb::CustomerProfile as prost::Message>::decode(wire.to_bytes()).expect("decodes");
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
}
