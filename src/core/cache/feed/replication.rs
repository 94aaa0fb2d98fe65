//! The replication connection a leader reads its slot over: the settings of the feed pool's
//! connections (host or socket, port, user, password, database), with TLS in libpq's
//! `sslmode` meanings and `sslrootcert`, `sslcert` and `sslkey` as files.

use std::time::Duration;

use pgwire_replication::{ReplicationConfig, SslMode, TlsConfig};
use sqlx::{
    ConnectOptions,
    postgres::{PgConnectOptions, PgSslMode},
};

use super::slot::PUBLICATION;

/// The replication connection's settings: those of the pool's connections, with libpq's
/// `sslmode` meanings.
pub(super) fn replication_config(options: &PgConnectOptions, slot: &str) -> ReplicationConfig {
    let url = options.to_url_lossy();
    let query = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.strip_prefix("file: ").unwrap_or(&v).to_owned())
    };
    let password = url.password().map_or_else(String::new, |password| {
        percent_encoding::percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned()
    });
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_owned(),
    };
    let database = options
        .get_database()
        .unwrap_or(options.get_username())
        .to_owned();
    let root = query("sslrootcert").map(Into::into);
    let mut tls = match options.get_ssl_mode() {
        PgSslMode::Disable => TlsConfig::disabled(),
        PgSslMode::Allow | PgSslMode::Prefer => TlsConfig {
            mode: SslMode::Prefer,
            ..TlsConfig::default()
        },
        PgSslMode::Require => TlsConfig::require(),
        PgSslMode::VerifyCa => TlsConfig::verify_ca(root),
        PgSslMode::VerifyFull => TlsConfig::verify_full(root),
    };
    if let (Some(cert), Some(key)) = (query("sslcert"), query("sslkey")) {
        tls = tls.with_client_cert(cert, key);
    }
    ReplicationConfig::new(
        host,
        options.get_username(),
        password,
        database,
        slot,
        PUBLICATION,
    )
    .with_port(options.get_port())
    .with_tls(tls)
    .with_application_name("c360 feed")
    // Acknowledgements reach the server within a second of being made.
    .with_status_interval(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use std::{path::Path, str::FromStr};

    use super::*;

    #[test]
    fn the_replication_connection_reaches_what_the_pool_reaches() {
        let options = PgConnectOptions::from_str(
            "postgres://c360:p%40ss@db.example:6543/billing?sslmode=verify-full&sslrootcert=/etc/c360/ca.pem",
        )
        .unwrap();
        let config = replication_config(&options, "c360_billing");
        assert_eq!(
            (
                config.host.as_str(),
                config.port,
                config.user.as_str(),
                config.password.as_str(),
                config.database.as_str(),
                config.slot.as_str()
            ),
            (
                "db.example",
                6543,
                "c360",
                "p@ss",
                "billing",
                "c360_billing"
            )
        );
        assert_eq!(config.publication.names(), ["c360_feed"]);
        assert_eq!(config.tls.mode, SslMode::VerifyFull);
        assert_eq!(
            config.tls.ca_pem_path.as_deref(),
            Some(Path::new("/etc/c360/ca.pem"))
        );
        let plain = PgConnectOptions::from_str("postgres://u@h/d?sslmode=disable").unwrap();
        assert_eq!(replication_config(&plain, "s").tls.mode, SslMode::Disable);
        let preferred = PgConnectOptions::from_str("postgres://u@h/d").unwrap();
        assert_eq!(
            replication_config(&preferred, "s").tls.mode,
            SslMode::Prefer
        );
    }
}
