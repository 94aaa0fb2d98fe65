//! What a command's failure says: one line, the gRPC code by name, what to check.

use std::time::Duration;

use super::verbose::printable;
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
    /// The server answered with an error: its code, its message, and the request id it sent
    /// back (what support looks for in the server's logs).
    #[error("{}", status_line(.0))]
    Status(Box<tonic::Status>),
    /// The credentials in the environment cannot be sent.
    #[error("{0}")]
    Credentials(String),
    /// The JSON form could not be produced.
    #[error("cannot render JSON: {0}")]
    Json(String),
    /// The command's own arguments do not hold.
    #[error("{0}")]
    Usage(String),
}

/// `NOT_FOUND: customer 9 does not exist (request id 4bf92f35…)`, safe for a terminal.
fn status_line(status: &tonic::Status) -> String {
    let mut line = format!(
        "{}: {}",
        code_name(status.code()),
        printable(status.message())
    );
    if let Some(id) = status
        .metadata()
        .get(super::REQUEST_ID)
        .and_then(|id| id.to_str().ok())
    {
        line.push_str(&format!(" (request id {})", printable(id)));
    }
    line
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        Self::Status(Box::new(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_on_one_line_with_the_grpc_code_name() {
        let error = ClientError::from(tonic::Status::not_found("customer 9 does not exist"));
        assert_eq!(error.to_string(), "NOT_FOUND: customer 9 does not exist");
        let mut status = tonic::Status::not_found("customer 9 does not exist");
        status
            .metadata_mut()
            .insert("x-request-id", "4bf92f35".parse().unwrap());
        assert_eq!(
            ClientError::from(status).to_string(),
            "NOT_FOUND: customer 9 does not exist (request id 4bf92f35)"
        );
        assert_eq!(
            code_name(tonic::Code::DeadlineExceeded),
            "DEADLINE_EXCEEDED"
        );
    }
}
