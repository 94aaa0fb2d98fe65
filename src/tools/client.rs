//! The `get`, `lookup`, `watch`, `invalidate`, `stats` and `top` commands: a gRPC client of c360, readable for a person by default,
//! JSON (the proto3 mapping) with `--json`. Credentials come from the environment:
//! `C360_TOKEN` (a bearer token, e.g. from `c360 token`) or `C360_API_KEY`. Addresses, TLS
//! and what a failed connection is reported as are in `client/connect.rs`.

mod connect;
mod health;
mod render;
mod stats_view;

pub use connect::{DEFAULT_ADDR, DEFAULT_TIMEOUT, Server};
pub use health::{Probed, probe};

use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
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

use crate::edge::grpc::status::code_name;

/// Why a command failed; its `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not one of the forms c360 takes.
    #[error(
        "invalid address {0:?}: expected host:port, http://host:port or https://host:port (TLS)"
    )]
    Address(String),
    /// Nothing listens there.
    #[error("c360 at {addr} refused the connection: is it running, and on that port?")]
    Refused {
        /// Where we tried.
        addr: String,
    },
    /// The TCP connection (or the TLS handshake) was not accepted in time.
    #[error("no answer from {addr} within {after:?}: is the address right, and reachable?")]
    NoAnswer {
        /// Where we tried.
        addr: String,
        /// How long we waited.
        after: Duration,
    },
    /// The command's deadline passed before the answer.
    #[error("no answer from c360 at {addr} within {after:?} (--timeout)")]
    TimedOut {
        /// Where we tried.
        addr: String,
        /// The deadline.
        after: Duration,
    },
    /// The peer answered, but not in gRPC.
    #[error("{addr} is not a gRPC server: {what}")]
    NotGrpc {
        /// Where we tried.
        addr: String,
        /// What it did instead.
        what: String,
    },
    /// TLS on one side only.
    #[error("cannot talk to {addr}: {hint}")]
    TlsMismatch {
        /// Where we tried.
        addr: String,
        /// Which scheme to use.
        hint: &'static str,
    },
    /// No server answered, for another reason.
    #[error("cannot reach c360 at {addr}: {why}")]
    Connect {
        /// Where we tried.
        addr: String,
        /// What the transport said.
        why: String,
    },
    /// The TLS files in the environment cannot be used, or the server's certificate.
    #[error("{0}")]
    Tls(String),
    /// The server answered with an error.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(Box<tonic::Status>),
    /// The credentials in the environment cannot be sent.
    #[error("{0}")]
    Credentials(String),
    /// The JSON form could not be produced.
    #[error("cannot render JSON: {0}")]
    Json(String),
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        Self::Status(Box::new(status))
    }
}

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

/// A channel that sends the environment's credentials with every call.
type Authed = InterceptedService<Channel, Credentials>;

async fn channel(server: &Server) -> Result<Authed, ClientError> {
    let credentials = Credentials::from_env()?;
    Ok(InterceptedService::new(
        server.channel().await?,
        credentials,
    ))
}

/// A request that tells the server the command's deadline.
fn request<T>(server: &Server, message: T) -> tonic::Request<T> {
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
            Ok(client
                .get_customer_profile(request(server, message))
                .await?
                .into_inner())
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
            Ok(client
                .lookup_customers(request(server, message))
                .await?
                .into_inner())
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
            let mut profiles = client.watch_customer_profile(message).await?.into_inner();
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
            Ok(client
                .invalidate_customers(request(server, message))
                .await?
                .into_inner())
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
            Ok(client
                .get_cache_stats(request(server, pb::GetCacheStatsRequest {}))
                .await?
                .into_inner())
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
        show(stats_view::top(&earlier, &later, now - at));
        (earlier, at) = (later, now);
        shown += 1;
    }
    Ok(())
}

/// `message` in the proto3 JSON mapping, as grpcurl prints it: fields at their default (0,
/// empty) left out.
fn json(message: &impl Message, name: &str) -> Result<String, ClientError> {
    to_json(message, name, &SerializeOptions::new())
}

/// The same with every field, those at 0 included (grpcurl's `--emit-defaults`): a counter that
/// never moved is a figure too, and a script reading `.l1.errors` should find it.
fn json_with_zeros(message: &impl Message, name: &str) -> Result<String, ClientError> {
    to_json(
        message,
        name,
        &SerializeOptions::new().skip_default_fields(false),
    )
}

fn to_json(
    message: &impl Message,
    name: &str,
    options: &SerializeOptions,
) -> Result<String, ClientError> {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
        .map_err(|e| ClientError::Json(e.to_string()))?;
    let descriptor = pool
        .get_message_by_name(name)
        .ok_or_else(|| ClientError::Json(format!("{name} is not in the descriptor set")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| ClientError::Json(e.to_string()))?;
    let mut out = serde_json::Serializer::pretty(Vec::new());
    dynamic
        .serialize_with_options(&mut out, options)
        .map_err(|e| ClientError::Json(e.to_string()))?;
    String::from_utf8(out.into_inner()).map_err(|e| ClientError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_as_json_keep_the_counters_that_never_moved() {
        let stats = pb::CacheStats {
            l1: Some(pb::TierStats {
                hits: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = json_with_zeros(&stats, "customer360.v1.CacheStats").expect("json");
        let value: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(value["l1"]["hits"], "3", "int64 as a string: {text}");
        assert_eq!(value["l1"]["misses"], "0", "{text}");
        assert_eq!(value["l1"]["errors"], "0", "{text}");
        assert_eq!(value["shed"], "0", "{text}");
        assert_eq!(value["l2Enabled"], false, "{text}");
        let profile = json(&stats, "customer360.v1.CacheStats").expect("json");
        assert!(!profile.contains("misses"), "grpcurl's default: {profile}");
    }

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

    #[test]
    fn errors_print_on_one_line_with_the_grpc_code_name() {
        let error = ClientError::from(tonic::Status::not_found("customer 9 does not exist"));
        assert_eq!(error.to_string(), "NOT_FOUND: customer 9 does not exist");
        assert_eq!(
            code_name(tonic::Code::DeadlineExceeded),
            "DEADLINE_EXCEEDED"
        );
    }
}
