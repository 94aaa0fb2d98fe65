//! `-v`: what goes over the wire beside the messages, on stderr, as grpcurl -v shows it: the
//! request's metadata (credentials hidden), then the response's headers and trailers, or its
//! status. Support asks for the `x-request-id` among them.

use std::fmt::Write;

use tonic::metadata::{KeyAndValueRef, MetadataMap};

use super::{ClientError, Server};
use crate::edge::grpc::status::code_name;

/// Shows the metadata a call sends: the credential's header (its value hidden) when the
/// call carries `credentials`, and the deadline when it has one.
pub(super) fn sending(server: &Server, deadline: bool, credentials: bool) {
    if server.verbose() {
        let credential = credentials.then(credential_header).flatten();
        eprint!("{}", request_metadata(server, deadline, credential));
    }
}

/// The response's message, after showing its headers and trailers (tonic hands a unary
/// call's trailers over with its headers), or its status and metadata when it failed.
pub(super) fn answered<T>(
    server: &Server,
    answer: Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, ClientError> {
    if server.verbose() {
        match &answer {
            Ok(response) => eprint!("{}", response_metadata(response.metadata(), None)),
            Err(status) => eprint!("{}", response_metadata(status.metadata(), Some(status))),
        }
    }
    Ok(answer?.into_inner())
}

/// Shows a stream's trailers once it has ended.
pub(super) fn trailers(server: &Server, trailers: Option<&MetadataMap>) {
    if let (true, Some(trailers)) = (server.verbose(), trailers) {
        eprint!("{}", block("Response trailers received", trailers));
    }
}

/// Which header the environment's credentials go in, as `C360_TOKEN` before `C360_API_KEY`
/// (`Credentials::from_env`).
fn credential_header() -> Option<&'static str> {
    if std::env::var_os("C360_TOKEN").is_some() {
        Some("authorization: Bearer (hidden; from C360_TOKEN)")
    } else if std::env::var_os("C360_API_KEY").is_some() {
        Some("x-api-key: (hidden; from C360_API_KEY)")
    } else {
        None
    }
}

fn request_metadata(server: &Server, deadline: bool, credential: Option<&str>) -> String {
    let mut text = format!("\nCalling {}\nRequest metadata to send:\n", server.uri());
    if let Some(credential) = credential {
        let _ = writeln!(text, "{credential}");
    }
    if deadline {
        let _ = writeln!(text, "grpc-timeout: {:?}", server.timeout());
    }
    if credential.is_none() && !deadline {
        text.push_str("(empty)\n");
    }
    text
}

fn response_metadata(metadata: &MetadataMap, status: Option<&tonic::Status>) -> String {
    let mut text = block("Response headers and trailers received", metadata);
    if let Some(status) = status {
        let _ = writeln!(
            text,
            "Response status: {} ({})\nMessage: {}",
            code_name(status.code()),
            i32::from(status.code()),
            printable(status.message())
        );
    }
    text
}

/// A heading, then one `name: value` line per entry; binary values by their size.
fn block(heading: &str, metadata: &MetadataMap) -> String {
    let mut text = format!("\n{heading}:\n");
    if metadata.is_empty() {
        text.push_str("(empty)\n");
    }
    for entry in metadata.iter() {
        let _ = match entry {
            KeyAndValueRef::Ascii(name, value) => writeln!(
                text,
                "{name}: {}",
                printable(value.to_str().unwrap_or("(not text)"))
            ),
            KeyAndValueRef::Binary(name, value) => writeln!(
                text,
                "{name}: ({} bytes)",
                value.to_bytes().map_or(0, |bytes| bytes.len())
            ),
        };
    }
    text
}

/// What a server sent, safe for a terminal: control characters shown escaped.
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server::parse("127.0.0.1:50051")
            .unwrap()
            .with_timeout(std::time::Duration::from_secs(3))
            .with_verbose(true)
    }

    #[test]
    fn the_request_shows_where_the_credential_goes_never_the_credential() {
        let text = request_metadata(&server(), true, Some("authorization: Bearer (hidden)"));
        assert!(text.contains("Calling http://127.0.0.1:50051"), "{text}");
        assert!(text.contains("authorization: Bearer (hidden)"), "{text}");
        assert!(text.contains("grpc-timeout: 3s"), "{text}");
        assert!(request_metadata(&server(), false, None).contains("(empty)"));
    }

    #[test]
    fn a_failed_call_shows_its_metadata_and_status_escaped() {
        let mut status = tonic::Status::not_found("customer 9\x1b[2J does not exist");
        status
            .metadata_mut()
            .insert("x-request-id", "4bf92f35".parse().unwrap());
        status.metadata_mut().insert_bin(
            "trace-bin",
            tonic::metadata::MetadataValue::from_bytes(b"abc"),
        );
        let text = response_metadata(status.metadata(), Some(&status));
        assert!(text.contains("x-request-id: 4bf92f35\n"), "{text}");
        assert!(text.contains("trace-bin: (3 bytes)\n"), "{text}");
        assert!(text.contains("Response status: NOT_FOUND (5)"), "{text}");
        assert!(
            !text.contains('\x1b'),
            "no raw escape reaches the terminal: {text}"
        );
        assert!(text.contains("\\u{1b}[2J"), "{text}");
    }
}
