//! The `get`, `lookup`, `stats` and `top` commands: a gRPC client of c360, readable for a person by default,
//! JSON (the proto3 mapping) with `--json`. Credentials come from the environment:
//! `C360_TOKEN` (a bearer token, e.g. from `c360 token`) or `C360_API_KEY`. An `https://`
//! address is spoken to over TLS, trusting the system's CAs or the one in `C360_CA_CERT`, and
//! presenting `C360_CLIENT_CERT` / `C360_CLIENT_KEY` where the server asks for a certificate.

mod render;
mod stats;

use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::{
    metadata::{AsciiMetadataValue, MetadataKey},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

use futures::StreamExt;

use c360_proto::{
    self as pb, cache_admin_service_client::CacheAdminServiceClient,
    customer_service_client::CustomerServiceClient, lookup_customers_request::Key,
};

use crate::grpc::status::code_name;

/// The default server address.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// Why a command failed; its `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not a URL.
    #[error("invalid address {0:?}: expected e.g. http://127.0.0.1:50051")]
    Address(String),
    /// No server answered.
    #[error("cannot reach c360 at {addr}: is it running? ({why})")]
    Connect {
        /// Where we tried.
        addr: String,
        /// What the transport said.
        why: String,
    },
    /// The TLS files in the environment cannot be used.
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

async fn channel(addr: &str, timeout: Option<Duration>) -> Result<Authed, ClientError> {
    let credentials = Credentials::from_env()?;
    Ok(InterceptedService::new(
        plain_channel(addr, timeout).await?,
        credentials,
    ))
}

async fn plain_channel(addr: &str, timeout: Option<Duration>) -> Result<Channel, ClientError> {
    let mut endpoint = Endpoint::from_shared(addr.to_owned())
        .map_err(|_| ClientError::Address(addr.to_owned()))?
        .connect_timeout(Duration::from_secs(3));
    if addr.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls_from_env()?)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
    }
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    endpoint
        .connect()
        .await
        .map_err(|error| ClientError::Connect {
            addr: addr.to_owned(),
            why: innermost(&error),
        })
}

/// TLS as the environment says: the CA in `C360_CA_CERT` (else the system's), and a client
/// certificate from `C360_CLIENT_CERT` and `C360_CLIENT_KEY`.
fn tls_from_env() -> Result<ClientTlsConfig, ClientError> {
    let read = |name: &str| -> Result<Option<Vec<u8>>, ClientError> {
        std::env::var_os(name)
            .map(|path| {
                std::fs::read(&path).map_err(|e| {
                    ClientError::Tls(format!("{name}={}: {e}", path.to_string_lossy()))
                })
            })
            .transpose()
    };
    let tls = match read("C360_CA_CERT")? {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    match (read("C360_CLIENT_CERT")?, read("C360_CLIENT_KEY")?) {
        (Some(cert), Some(key)) => Ok(tls.identity(Identity::from_pem(cert, key))),
        (None, None) => Ok(tls),
        _ => Err(ClientError::Tls(
            "C360_CLIENT_CERT and C360_CLIENT_KEY go together".into(),
        )),
    }
}

/// The last cause in an error's chain: what actually went wrong.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn connect(addr: &str) -> Result<CustomerServiceClient<Authed>, ClientError> {
    Ok(CustomerServiceClient::new(
        channel(addr, Some(Duration::from_secs(30))).await?,
    ))
}

async fn admin(addr: &str) -> Result<CacheAdminServiceClient<Authed>, ClientError> {
    Ok(CacheAdminServiceClient::new(
        channel(addr, Some(Duration::from_secs(60))).await?,
    ))
}

fn mask(sections: &[String]) -> Option<prost_types::FieldMask> {
    (!sections.is_empty()).then(|| prost_types::FieldMask {
        paths: sections.to_vec(),
    })
}

/// The profile of customer `id`, limited to `sections` when given, rendered in `format`.
pub async fn get(
    addr: &str,
    id: &str,
    sections: &[String],
    format: Format,
) -> Result<String, ClientError> {
    let mut client = connect(addr).await?;
    let request = pb::GetCustomerProfileRequest {
        customer_id: id.to_owned(),
        read_mask: mask(sections),
        ..Default::default()
    };
    let profile = client.get_customer_profile(request).await?.into_inner();
    match format {
        Format::Text => Ok(render::profile(&profile)),
        Format::Json => json(&profile, "customer360.v1.CustomerProfile"),
    }
}

/// The customers matching `by`, rendered in `format`.
pub async fn lookup(addr: &str, by: LookupBy, format: Format) -> Result<String, ClientError> {
    let mut client = connect(addr).await?;
    let key = match by {
        LookupBy::Email(email) => Key::Email(email),
        LookupBy::Phone(phone) => Key::Phone(phone),
        LookupBy::Order(order) => Key::OrderId(order),
    };
    let request = pb::LookupCustomersRequest { key: Some(key) };
    let found = client.lookup_customers(request).await?.into_inner();
    match format {
        Format::Text => Ok(render::matches(&found)),
        Format::Json => json(&found, "customer360.v1.LookupCustomersResponse"),
    }
}

/// Follows customer `id`: calls `show` with the rendered profile now and after each change,
/// until the server ends the stream (or the process is stopped).
pub async fn watch(
    addr: &str,
    id: &str,
    sections: &[String],
    format: Format,
    mut show: impl FnMut(String),
) -> Result<(), ClientError> {
    // No deadline: a watch lasts as long as the caller wants it.
    let mut client = CustomerServiceClient::new(channel(addr, None).await?);
    let request = pb::WatchCustomerProfileRequest {
        customer_id: id.to_owned(),
        read_mask: mask(sections),
    };
    let mut profiles = client.watch_customer_profile(request).await?.into_inner();
    while let Some(profile) = profiles.next().await {
        let profile = profile?;
        show(match format {
            Format::Text => render::profile(&profile),
            Format::Json => json(&profile, "customer360.v1.CustomerProfile")?,
        });
    }
    Ok(())
}

/// Drops customers `ids` from every replica's caches.
pub async fn invalidate(addr: &str, ids: &[String]) -> Result<String, ClientError> {
    let request = pb::InvalidateCustomersRequest {
        customer_ids: ids.to_vec(),
    };
    let answer = admin(addr)
        .await?
        .invalidate_customers(request)
        .await?
        .into_inner();
    Ok(if answer.reached_other_replicas {
        format!(
            "Invalidated {} customers on every replica.",
            answer.invalidated
        )
    } else {
        format!(
            "Invalidated {} customers here and in L2; the other replicas could not be told and drop them when their entries expire.",
            answer.invalidated
        )
    })
}

/// The cache and feed figures of the replica at `addr`.
pub async fn stats(addr: &str, format: Format) -> Result<String, ClientError> {
    let stats = admin(addr)
        .await?
        .get_cache_stats(pb::GetCacheStatsRequest {})
        .await?
        .into_inner();
    match format {
        Format::Text => Ok(stats::render(&stats)),
        Format::Json => json(&stats, "customer360.v1.CacheStats"),
    }
}

/// `c360 top`: reads a replica's figures every `every` and hands `show` what changed since
/// the reading before (rates, and percentiles of the calls in between); `count` times, or
/// until the caller stops it.
pub async fn top(
    addr: &str,
    every: Duration,
    count: Option<u64>,
    mut show: impl FnMut(String),
) -> Result<(), ClientError> {
    let mut client = admin(addr).await?;
    let mut earlier = client
        .get_cache_stats(pb::GetCacheStatsRequest {})
        .await?
        .into_inner();
    let mut at = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval_at(at + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shown = 0;
    while count.is_none_or(|count| shown < count) {
        ticks.tick().await;
        let later = client
            .get_cache_stats(pb::GetCacheStatsRequest {})
            .await?
            .into_inner();
        let now = tokio::time::Instant::now();
        show(stats::top(&earlier, &later, now - at));
        (earlier, at) = (later, now);
        shown += 1;
    }
    Ok(())
}

/// `message` in the proto3 JSON mapping, as grpcurl prints it.
fn json(message: &impl Message, name: &str) -> Result<String, ClientError> {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
        .map_err(|e| ClientError::Json(e.to_string()))?;
    let descriptor = pool
        .get_message_by_name(name)
        .ok_or_else(|| ClientError::Json(format!("{name} is not in the descriptor set")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| ClientError::Json(e.to_string()))?;
    serde_json::to_string_pretty(&dynamic).map_err(|e| ClientError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
