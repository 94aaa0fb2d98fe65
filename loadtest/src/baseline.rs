//! The baseline: a bare tonic server answering `GetCustomerProfile` with a fixed, valid
//! profile of a chosen size — no cache, no validation, no layers. What c360 does on top of
//! this is what the hit-path benchmark measures.

use std::{net::SocketAddr, pin::Pin};

use bytes::Bytes;
use c360_proto::{self as pb, WireBatch, WireProfile, server::customer_service_server};
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status, transport::Server};

/// A valid encoded `CustomerProfile` of exactly `bytes` bytes (or the smallest there is).
pub fn payload(bytes: usize) -> Bytes {
    let profile = |padding: usize| pb::CustomerProfile {
        customer_id: "1".into(),
        identity: Some(pb::Identity {
            first_name: "x".repeat(padding),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut padding = bytes;
    // Length prefixes grow at 128 and 16,384 bytes: walk down to the size (or one under it,
    // where a prefix's growth skips it).
    while padding > 0 && profile(padding).encoded_len() > bytes {
        padding -= 1;
    }
    Bytes::from(profile(padding).encode_to_vec())
}

struct Baseline {
    payload: Bytes,
}

type Profiles = Pin<Box<dyn Stream<Item = Result<WireProfile, Status>> + Send>>;

#[tonic::async_trait]
impl customer_service_server::CustomerService for Baseline {
    async fn get_customer_profile(
        &self,
        _request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<Response<WireProfile>, Status> {
        Ok(Response::new(WireProfile::from(self.payload.clone())))
    }

    async fn batch_get_customer_profiles(
        &self,
        _request: Request<pb::BatchGetCustomerProfilesRequest>,
    ) -> Result<Response<WireBatch>, Status> {
        Err(Status::unimplemented(
            "the baseline answers GetCustomerProfile only",
        ))
    }

    async fn lookup_customers(
        &self,
        _request: Request<pb::LookupCustomersRequest>,
    ) -> Result<Response<pb::LookupCustomersResponse>, Status> {
        Err(Status::unimplemented(
            "the baseline answers GetCustomerProfile only",
        ))
    }

    type WatchCustomerProfileStream = Profiles;

    async fn watch_customer_profile(
        &self,
        _request: Request<pb::WatchCustomerProfileRequest>,
    ) -> Result<Response<Profiles>, Status> {
        Err(Status::unimplemented(
            "the baseline answers GetCustomerProfile only",
        ))
    }
}

/// Serves the baseline on `listen` until Ctrl-C.
pub async fn serve(bytes: usize, listen: SocketAddr) -> anyhow::Result<()> {
    let payload = payload(bytes);
    eprintln!(
        "baseline: answering GetCustomerProfile with {} bytes on {listen}",
        payload.len()
    );
    Server::builder()
        .add_service(customer_service_server::CustomerServiceServer::new(
            Baseline { payload },
        ))
        .serve_with_shutdown(listen, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_a_profile_of_the_size_asked() {
        for size in [100, 128, 130, 4096, 16_384, 16_390, 20_000] {
            let bytes = payload(size);
            assert!(
                (size - 1..=size).contains(&bytes.len()),
                "{size}: {}",
                bytes.len()
            );
            let profile = pb::CustomerProfile::decode(bytes).expect("a profile");
            assert_eq!(profile.customer_id, "1");
        }
    }
}
