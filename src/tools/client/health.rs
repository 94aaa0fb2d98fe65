//! `c360 health`: one `grpc.health.v1.Health/Check`, answered with grpc_health_probe's exit
//! codes, so that an exec probe (a container's `HEALTHCHECK`, a Kubernetes `exec` probe) can
//! use either: 0 `SERVING`; 1 the arguments; 2 no connection; 3 the call failed; 4 answered,
//! but not `SERVING`.

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{ClientError, Server, verbose};

/// What a health probe found, and the exit code it means.
#[derive(Debug)]
pub enum Probed {
    /// The service (or the server, for `""`) is `SERVING`.
    Serving,
    /// It answered with another status (its name).
    Unhealthy(&'static str),
    /// The probe could not tell.
    Failed(ClientError),
}

impl Probed {
    /// grpc_health_probe's exit code for it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Serving => 0,
            Self::Unhealthy(_) => 4,
            Self::Failed(ClientError::Address(_)) => 1,
            Self::Failed(
                ClientError::Refused { .. }
                | ClientError::NoAnswer { .. }
                | ClientError::Connect { .. }
                | ClientError::TlsMismatch { .. }
                | ClientError::Tls(_),
            ) => 2,
            Self::Failed(_) => 3,
        }
    }

    /// One line saying what was found.
    pub fn line(&self, service: &str) -> String {
        let what = if service.is_empty() {
            "the server".to_owned()
        } else {
            service.to_owned()
        };
        match self {
            Self::Serving => format!("status: SERVING ({what})"),
            Self::Unhealthy(status) => format!("{what} is unhealthy: {status}"),
            Self::Failed(error) => format!("health check of {what} failed: {error}"),
        }
    }
}

/// Asks `server` whether `service` (`""`: the server as a whole) is serving.
pub async fn probe(server: &Server, service: &str) -> Probed {
    let asked = server.within(async {
        let mut client = HealthClient::new(server.channel().await?);
        let message = HealthCheckRequest {
            service: service.to_owned(),
        };
        // The probe sends no credentials: health answers anyone.
        verbose::sending(server, true, false);
        let mut request = tonic::Request::new(message);
        request.set_timeout(server.timeout());
        verbose::answered(server, client.check(request).await)
    });
    match asked.await {
        Ok(answer) => match ServingStatus::try_from(answer.status) {
            Ok(ServingStatus::Serving) => Probed::Serving,
            Ok(other) => Probed::Unhealthy(other.as_str_name()),
            Err(_) => Probed::Unhealthy("UNKNOWN"),
        },
        Err(error) => Probed::Failed(error),
    }
}
