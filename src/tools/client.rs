//! The `get`, `lookup`, `watch`, `invalidate`, `stats`, `top` and `attention` commands: a gRPC client of c360, readable for a person by default,
//! JSON (the proto3 mapping) with `--json`. Credentials come from the environment:
//! `C360_TOKEN` (a bearer token, e.g. from `c360 token`) or `C360_API_KEY`. Addresses, TLS
//! and what a failed connection is reported as are in `client/connect.rs`.

pub mod attention;
mod connect;
mod error;
mod health;
pub mod history;
mod json;
pub mod offers;
mod render;
mod stats_view;
mod top_view;
mod verbose;

pub use connect::{DEFAULT_ADDR, DEFAULT_TIMEOUT, Server};
pub use error::ClientError;
pub use health::{Probed, probe};

use std::time::Duration;

use tonic::{
    metadata::{AsciiMetadataValue, MetadataKey},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

use futures::StreamExt;

use c360_proto::{
    self as pb, cache_admin_service_client::CacheAdminServiceClient,
    customer_service_client::CustomerServiceClient, lookup_customers_request::Key,
};

use json::{json, json_with_zeros};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person.
    Text,
    /// The proto3 JSON mapping.
    Json,
}

/// What to look a customer up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupBy {
    /// Email address.
    Email(String),
    /// Phone number, any notation.
    Phone(String),
    /// Order id.
    Order(String),
}

/// The credentials the commands send, from the environment (never from flags, which other
/// users of the machine can read): `C360_TOKEN` (a bearer token) or `C360_API_KEY`.
#[derive(Debug, Clone, Default)]
struct Credentials(Option<(MetadataKey<tonic::metadata::Ascii>, AsciiMetadataValue)>);

impl Credentials {
    fn from_env() -> Result<Self, ClientError> {
        let bad =
            |name: &str| ClientError::Credentials(format!("{name} is not a valid header value"));
        if let Ok(token) = std::env::var("C360_TOKEN") {
            let value = format!("Bearer {}", token.trim())
                .parse()
                .map_err(|_| bad("C360_TOKEN"))?;
            return Ok(Self(Some((
                MetadataKey::from_static("authorization"),
                value,
            ))));
        }
        if let Ok(key) = std::env::var("C360_API_KEY") {
            let value = key.trim().parse().map_err(|_| bad("C360_API_KEY"))?;
            return Ok(Self(Some((MetadataKey::from_static("x-api-key"), value))));
        }
        Ok(Self(None))
    }
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some((key, value)) = &self.0 {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        Ok(request)
    }
}

/// The header a server's request id comes back in.
const REQUEST_ID: &str = "x-request-id";

/// A channel that sends the environment's credentials with every call.
type Authed = InterceptedService<Channel, Credentials>;

async fn channel(server: &Server) -> Result<Authed, ClientError> {
    let credentials = Credentials::from_env()?;
    Ok(InterceptedService::new(
        server.channel().await?,
        credentials,
    ))
}

/// A request that tells the server the command's deadline, on a channel with credentials
/// (shown with `-v`).
fn request<T>(server: &Server, message: T) -> tonic::Request<T> {
    verbose::sending(server, true, true);
    let mut request = tonic::Request::new(message);
    request.set_timeout(server.timeout());
    request
}

/// The read mask of `sections`; none (every section) when there are none, as `--sections ''`.
fn mask(sections: &[String]) -> Option<prost_types::FieldMask> {
    let paths: Vec<String> = sections
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!paths.is_empty()).then_some(prost_types::FieldMask { paths })
}

/// The profile of customer `id`, limited to `sections` when given, rendered in `format`.
pub async fn get(
    server: &Server,
    id: &str,
    sections: &[String],
    format: Format,
) -> Result<String, ClientError> {
    let message = pb::GetCustomerProfileRequest {
        customer_id: id.to_owned(),
        read_mask: mask(sections),
        ..Default::default()
    };
    let profile = server
        .within(async {
            let mut client = CustomerServiceClient::new(channel(server).await?);
            verbose::answered(
                server,
                client.get_customer_profile(request(server, message)).await,
            )
        })
        .await?;
    match format {
        Format::Text => Ok(render::profile(&profile)),
        Format::Json => json(&profile, "customer360.v1.CustomerProfile"),
    }
}

/// The customers matching `by`, rendered in `format`.
pub async fn lookup(server: &Server, by: LookupBy, format: Format) -> Result<Found, ClientError> {
    let key = match by {
        LookupBy::Email(email) => Key::Email(email),
        LookupBy::Phone(phone) => Key::Phone(phone),
        LookupBy::Order(order) => Key::OrderId(order),
    };
    let message = pb::LookupCustomersRequest { key: Some(key) };
    let found = server
        .within(async {
            let mut client = CustomerServiceClient::new(channel(server).await?);
            verbose::answered(
                server,
                client.lookup_customers(request(server, message)).await,
            )
        })
        .await?;
    let text = match format {
        Format::Text => render::matches(&found),
        Format::Json => json(&found, "customer360.v1.LookupCustomersResponse")?,
    };
    Ok(Found {
        text,
        matches: found.customers.len(),
    })
}

/// What a lookup found: its rendering, and how many customers matched (none makes
/// `c360 lookup` exit 1, as `grep` does).
#[derive(Debug)]
pub struct Found {
    /// As the format asked.
    pub text: String,
    /// Customers matched.
    pub matches: usize,
}

/// Follows customer `id`: calls `show` with the rendered profile now and after each change,
/// until the server ends the stream (or the process is stopped). The command's deadline holds
/// until the first profile; after it, the watch lasts as long as the caller wants.
pub async fn watch(
    server: &Server,
    id: &str,
    sections: &[String],
    format: Format,
    mut show: impl FnMut(String),
) -> Result<(), ClientError> {
    let message = pb::WatchCustomerProfileRequest {
        customer_id: id.to_owned(),
        read_mask: mask(sections),
    };
    // The client is kept for as long as the stream: its channel holds the connection.
    let (_client, mut profiles, first) = server
        .within(async {
            let mut client = CustomerServiceClient::new(channel(server).await?);
            verbose::sending(server, false, true);
            let answer = client.watch_customer_profile(message).await;
            // The stream's request id came with its headers: an error in its trailers is
            // told with it all the same.
            let request_id = answer
                .as_ref()
                .ok()
                .and_then(|response| response.metadata().get(REQUEST_ID).cloned());
            let profiles = verbose::answered(server, answer)?;
            let mut profiles = profiles.map(move |item| {
                item.map_err(|mut status| {
                    if let Some(id) = &request_id
                        && !status.metadata().contains_key(REQUEST_ID)
                    {
                        status.metadata_mut().insert(REQUEST_ID, id.clone());
                    }
                    status
                })
            });
            let first = profiles.next().await.transpose()?;
            Ok((client, profiles, first))
        })
        .await?;
    let render = |profile: &pb::CustomerProfile| match format {
        Format::Text => Ok(render::profile(profile)),
        Format::Json => json(profile, "customer360.v1.CustomerProfile"),
    };
    let Some(first) = first else { return Ok(()) };
    show(render(&first)?);
    while let Some(profile) = profiles.next().await {
        show(render(&profile?)?);
    }
    let trailers = profiles.into_inner().trailers().await.ok().flatten();
    verbose::trailers(server, trailers.as_ref());
    Ok(())
}

/// Drops customers `ids` from every replica's caches.
pub async fn invalidate(server: &Server, ids: &[String]) -> Result<String, ClientError> {
    let message = pb::InvalidateCustomersRequest {
        customer_ids: ids.to_vec(),
    };
    let answer = server
        .within(async {
            let mut client = CacheAdminServiceClient::new(channel(server).await?);
            verbose::answered(
                server,
                client.invalidate_customers(request(server, message)).await,
            )
        })
        .await?;
    Ok(invalidated(&answer))
}

/// What an invalidation reached, in words.
fn invalidated(answer: &pb::InvalidateCustomersResponse) -> String {
    let customers = match answer.invalidated {
        1 => "1 customer".to_owned(),
        n => format!("{n} customers"),
    };
    if answer.reached_other_replicas {
        format!("Invalidated {customers} on every replica and in L2.")
    } else if !answer.redis_configured {
        format!(
            "Invalidated {customers} on this replica. It has no Redis, so no L2 and no bus: \
             the other replicas drop them when their own change feeds bring a change, or \
             when their entries expire (cache.ttl)."
        )
    } else {
        format!(
            "Invalidated {customers} on this replica; Redis did not confirm. This replica \
             keeps off L2 for them until it does; the other replicas may serve them until \
             their change feeds or their entries' TTL catch up."
        )
    }
}

/// One reading of a replica's figures, on `client`.
async fn read_stats(
    server: &Server,
    client: &mut CacheAdminServiceClient<Authed>,
) -> Result<pb::CacheStats, ClientError> {
    server
        .within(async {
            verbose::answered(
                server,
                client
                    .get_cache_stats(request(server, pb::GetCacheStatsRequest {}))
                    .await,
            )
        })
        .await
}

async fn admin(server: &Server) -> Result<CacheAdminServiceClient<Authed>, ClientError> {
    server
        .within(async { Ok(CacheAdminServiceClient::new(channel(server).await?)) })
        .await
}

/// The cache and feed figures of the replica at `server`.
pub async fn stats(server: &Server, format: Format) -> Result<String, ClientError> {
    let stats = read_stats(server, &mut admin(server).await?).await?;
    match format {
        Format::Text => Ok(stats_view::render(&stats)),
        Format::Json => json_with_zeros(&stats, "customer360.v1.CacheStats"),
    }
}

/// `c360 top`: reads a replica's figures every `every` and hands `show` what changed since
/// the reading before (rates, and percentiles of the calls in between); `count` times, or
/// until the caller stops it. Each reading has the command's deadline.
pub async fn top(
    server: &Server,
    every: Duration,
    count: Option<u64>,
    mut show: impl FnMut(String),
) -> Result<(), ClientError> {
    let mut client = admin(server).await?;
    let mut earlier = read_stats(server, &mut client).await?;
    let mut at = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval_at(at + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shown = 0;
    while count.is_none_or(|count| shown < count) {
        ticks.tick().await;
        let later = read_stats(server, &mut client).await?;
        let now = tokio::time::Instant::now();
        show(top_view::top(&earlier, &later, now - at));
        (earlier, at) = (later, now);
        shown += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidation_says_how_far_it_reached() {
        let answer = |count, reached_other_replicas, redis_configured| {
            invalidated(&pb::InvalidateCustomersResponse {
                invalidated: count,
                reached_other_replicas,
                redis_configured,
            })
        };
        assert_eq!(
            answer(2, true, true),
            "Invalidated 2 customers on every replica and in L2."
        );
        let alone = answer(1, false, false);
        assert!(
            alone.starts_with("Invalidated 1 customer on this replica. It has no Redis"),
            "{alone}"
        );
        assert!(
            !alone.contains("in L2;") && !alone.contains("could not"),
            "{alone}"
        );
        let failed = answer(3, false, true);
        assert!(failed.contains("Redis did not confirm"), "{failed}");
    }
}
