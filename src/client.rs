//! The `get` and `lookup` commands: a gRPC client of c360, readable for a person by default,
//! JSON (the proto3 mapping) with `--json`.

mod render;

use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::transport::{Channel, Endpoint};

use crate::pb::{
    self, customer_service_client::CustomerServiceClient, lookup_customers_request::Key,
};

/// The default server address.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// Why a command failed; its `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not a URL.
    #[error("invalid address {0:?}: expected e.g. http://127.0.0.1:50051")]
    Address(String),
    /// No server answered.
    #[error("cannot reach c360 at {addr}: is it running?")]
    Connect {
        /// Where we tried.
        addr: String,
    },
    /// The server answered with an error.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(Box<tonic::Status>),
    /// The JSON form could not be produced.
    #[error("cannot render JSON: {0}")]
    Json(String),
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        Self::Status(Box::new(status))
    }
}

/// `InvalidArgument` → `INVALID_ARGUMENT`, as gRPC documents its codes.
fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
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

async fn connect(addr: &str) -> Result<CustomerServiceClient<Channel>, ClientError> {
    let endpoint = Endpoint::from_shared(addr.to_owned())
        .map_err(|_| ClientError::Address(addr.to_owned()))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    let channel = endpoint.connect().await.map_err(|_| ClientError::Connect {
        addr: addr.to_owned(),
    })?;
    Ok(CustomerServiceClient::new(channel))
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
        read_mask: (!sections.is_empty()).then(|| prost_types::FieldMask {
            paths: sections.to_vec(),
        }),
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
