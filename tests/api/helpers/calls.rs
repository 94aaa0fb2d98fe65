//! The calls tests make, as `TestApp` methods, and the requests they build.

use c360::{core::db::Bind, core::vocab::PerSource};
use c360_proto::{self as pb, lookup_customers_request::Key};
use tonic::{Status, Streaming};

use super::TestApp;

/// Reads of each backend, the same number for each.
pub fn reads_each(reads: u64) -> PerSource<u64> {
    PerSource::same(reads)
}

/// A request for the whole profile of `id`.
pub fn get(id: impl ToString) -> pb::GetCustomerProfileRequest {
    pb::GetCustomerProfileRequest {
        customer_id: id.to_string(),
        ..Default::default()
    }
}

/// A read mask of these paths.
pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// A request for the `paths` sections of the profile of `id`.
pub fn masked(id: impl ToString, paths: &[&str]) -> pb::GetCustomerProfileRequest {
    pb::GetCustomerProfileRequest {
        read_mask: mask(paths),
        ..get(id)
    }
}

/// The first line of the most recent order of `profile`.
pub fn first_line(profile: &pb::CustomerProfile) -> pb::OrderLine {
    let order = &profile.orders.as_ref().expect("orders").recent[0];
    order.lines[0].clone()
}

/// The calls tests make, each on its own clone of the client, as separate callers would.
impl TestApp {
    /// A closed chat `interaction` of `customer`'s, 100 days old, whose customer wrote
    /// `bodies` a minute apart: the messages' ids, in order (`interaction` × 100 + 1, + 2, …).
    pub async fn conversation(&self, interaction: i64, customer: i64, bodies: &[&str]) -> Vec<i64> {
        let long_ago = chrono::Utc::now() - chrono::Duration::days(100);
        self.db
            .execute(
                "INSERT INTO interactions (id, customer_id, channel, subject, status, \
                 created_at, updated_at) VALUES ($1, $2, 'chat', 'Words', 'closed', $3, $3)",
                &[
                    Bind::Int(interaction),
                    Bind::Int(customer),
                    Bind::Time(long_ago),
                ],
            )
            .await
            .expect("an interaction written");
        let mut ids = Vec::new();
        for (position, body) in (1..).zip(bodies) {
            let id = interaction * 100 + position;
            self.db
                .execute(
                    "INSERT INTO interaction_messages (id, interaction_id, customer_id, \
                     position, kind, author, sent_at, body) \
                     VALUES ($1, $2, $3, $4, 'message', 'customer', $5, $6)",
                    &[
                        Bind::Int(id),
                        Bind::Int(interaction),
                        Bind::Int(customer),
                        Bind::Int(position),
                        Bind::Time(long_ago + chrono::Duration::minutes(position)),
                        Bind::Text((*body).to_owned()),
                    ],
                )
                .await
                .expect("a message written");
            ids.push(id);
        }
        ids
    }

    /// `GetCustomerProfile`, as it went.
    pub async fn try_get(
        &self,
        request: pb::GetCustomerProfileRequest,
    ) -> Result<pb::CustomerProfile, Status> {
        let mut client = self.customers.clone();
        Ok(client.get_customer_profile(request).await?.into_inner())
    }

    /// The whole profile of `id`, which must be served.
    pub async fn profile(&self, id: impl ToString) -> pb::CustomerProfile {
        self.try_get(get(id)).await.expect("a profile")
    }

    /// The `paths` sections of the profile of `id`, which must be served.
    pub async fn sections(&self, id: impl ToString, paths: &[&str]) -> pb::CustomerProfile {
        self.try_get(masked(id, paths)).await.expect("a profile")
    }

    /// Where the profile of `id` was served from, and the first name it shows.
    pub async fn served_from(&self, id: i64) -> (pb::CacheTier, String) {
        let profile = self.profile(id).await;
        let tier = profile.cache.expect("cache info").served_from();
        (tier, profile.identity.expect("identity").first_name)
    }

    /// `BatchGetCustomerProfiles`, as it went.
    pub async fn batch_get(
        &self,
        request: pb::BatchGetCustomerProfilesRequest,
    ) -> Result<pb::BatchGetCustomerProfilesResponse, Status> {
        let mut client = self.customers.clone();
        Ok(client
            .batch_get_customer_profiles(request)
            .await?
            .into_inner())
    }

    /// `LookupCustomers` by `key`, as it went.
    pub async fn lookup(&self, key: Option<Key>) -> Result<pb::LookupCustomersResponse, Status> {
        let mut client = self.customers.clone();
        let request = pb::LookupCustomersRequest { key };
        Ok(client.lookup_customers(request).await?.into_inner())
    }

    /// `WatchCustomerProfile` of the `paths` sections of `id` (all for none).
    pub async fn watch(
        &self,
        id: impl ToString,
        paths: &[&str],
    ) -> Result<Streaming<pb::CustomerProfile>, Status> {
        let mut client = self.customers.clone();
        let request = pb::WatchCustomerProfileRequest {
            customer_id: id.to_string(),
            read_mask: if paths.is_empty() { None } else { mask(paths) },
        };
        Ok(client.watch_customer_profile(request).await?.into_inner())
    }

    /// `GetProduct`, as it went.
    pub async fn product(&self, sku: &str) -> Result<pb::Product, Status> {
        let mut client = self.catalog.clone();
        let request = pb::GetProductRequest { sku: sku.into() };
        Ok(client.get_product(request).await?.into_inner())
    }

    /// `BatchGetProducts`, as it went.
    pub async fn products(&self, skus: &[String]) -> Result<pb::BatchGetProductsResponse, Status> {
        let mut client = self.catalog.clone();
        let request = pb::BatchGetProductsRequest {
            skus: skus.to_vec(),
        };
        Ok(client.batch_get_products(request).await?.into_inner())
    }

    /// `ListReturnPolicies`: every policy.
    pub async fn return_policies(&self) -> Vec<pb::ReturnPolicy> {
        let mut client = self.catalog.clone();
        let listed = client
            .list_return_policies(pb::ListReturnPoliciesRequest {})
            .await;
        listed.expect("the policies").into_inner().policies
    }

    /// `CheckReturnEligibility`, as it went.
    pub async fn check_return(
        &self,
        order: impl ToString,
        sku: &str,
    ) -> Result<pb::CheckReturnEligibilityResponse, Status> {
        let mut client = self.catalog.clone();
        let request = pb::CheckReturnEligibilityRequest {
            order_id: order.to_string(),
            sku: sku.into(),
        };
        Ok(client.check_return_eligibility(request).await?.into_inner())
    }

    /// `GetCacheStats`.
    pub async fn stats(&self) -> pb::CacheStats {
        let mut client = self.admin.clone();
        let stats = client.get_cache_stats(pb::GetCacheStatsRequest {}).await;
        stats.expect("cache figures").into_inner()
    }

    /// `InvalidateCustomers`, as it went.
    pub async fn invalidate(
        &self,
        ids: &[&str],
    ) -> Result<pb::InvalidateCustomersResponse, Status> {
        let mut client = self.admin.clone();
        let request = pb::InvalidateCustomersRequest {
            customer_ids: ids.iter().map(|id| id.to_string()).collect(),
        };
        Ok(client.invalidate_customers(request).await?.into_inner())
    }

    /// `WarmCustomers` of every section, which must be answered.
    pub async fn warm(&self, ids: Vec<String>) -> pb::WarmCustomersResponse {
        let mut client = self.admin.clone();
        let request = pb::WarmCustomersRequest {
            customer_ids: ids,
            read_mask: None,
        };
        client
            .warm_customers(request)
            .await
            .expect("warmed")
            .into_inner()
    }

    /// Renames customer `id` in the backend, as another system would.
    pub async fn rename(&self, id: i64, name: &str) {
        self.db
            .execute(
                "UPDATE customers SET first_name = $1 WHERE id = $2",
                &[Bind::Text(name.into()), Bind::Int(id)],
            )
            .await
            .expect("rename");
    }

    /// A phone number several customers share, and their ids in order.
    pub async fn shared_phone(&self) -> (String, Vec<String>) {
        let shared = self
            .text(
                "SELECT phone_e164 FROM customers GROUP BY phone_e164 HAVING COUNT(*) > 1 \
                 ORDER BY phone_e164 LIMIT 1",
                &[],
            )
            .await;
        let sharing: Vec<(i64,)> = self
            .db
            .fetch_all(
                "SELECT id FROM customers WHERE phone_e164 = $1 ORDER BY id",
                &[Bind::Text(shared.clone())],
            )
            .await
            .unwrap();
        let sharing = sharing.into_iter().map(|(id,)| id.to_string()).collect();
        (shared, sharing)
    }
}
