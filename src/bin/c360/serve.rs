//! `c360 serve`: the settings loaded, the server bound and run until a signal, then the
//! drain and the grace; the signals themselves.

use std::time::Duration;

use std::net::SocketAddr;

use anyhow::Context;
use c360::{
    app::{App, config::Settings, reload::ConfigSource, telemetry},
    tools::demo::{self, DemoOptions},
};
use figment::value::Value;
use humantime_serde::re::humantime;

use super::cli::DemoArgs;

/// The flags of `c360 serve` as the configuration keys they override.
pub(crate) fn flags(
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    metrics_listen: Option<SocketAddr>,
    unauthenticated_beyond_loopback: bool,
) -> Vec<(&'static str, Value)> {
    let mut flags = Vec::new();
    if unauthenticated_beyond_loopback {
        flags.push(("server.unauthenticated_beyond_loopback", Value::from(true)));
    }
    if let Some(listen) = listen {
        flags.push(("server.listen", Value::from(listen.to_string())));
    }
    if let Some(url) = database_url {
        flags.push(("database.url", Value::from(url)));
    }
    if let Some(metrics) = metrics_listen {
        flags.push(("metrics.listen", Value::from(metrics.to_string())));
    }
    flags
}

/// `c360 demo`: one access line per call (the demo's calls are few, and worth seeing).
pub(crate) async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let mut log = Settings::default().log;
    log.access = true;
    let _telemetry = telemetry::init(&log, &Default::default())?;
    let program = std::env::args().next().unwrap_or_else(|| "c360".into());
    let options = DemoOptions {
        customers: args.customers,
        listen: args.listen,
        db: args.db,
        activity: args.activity,
        metrics: (!args.no_metrics).then_some(args.metrics_listen),
    };
    demo::run(options, &program, shutdown_signal()).await?;
    Ok(())
}

/// Serves as `config` and the flags say.
pub(crate) async fn serve(
    config: Option<std::path::PathBuf>,
    flags: Vec<(&'static str, Value)>,
) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref(), flags.clone())?;
    let telemetry = telemetry::init(&settings.log, &settings.trace)?;
    starting(&settings, config.as_deref());
    // `[auth]` is read again from the same file and flags on SIGHUP and when the file changes.
    let source = config.map(|file| ConfigSource { file, flags });
    let served = serve_with(settings, source).await;
    telemetry.shutdown().await;
    served
}

async fn serve_with(settings: Settings, source: Option<ConfigSource>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    let addr = listener.local_addr()?;
    let metrics = match settings.metrics.listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot serve metrics on {at}"))?,
        ),
        None => None,
    };
    let mut app = App::connect(&settings).await?;
    if let Some(source) = source {
        app.reload_auth_from(source, &settings);
    }
    let metrics_addr = metrics.as_ref().and_then(|m| m.local_addr().ok());
    let signalled = shutdown_signal();
    for hatch in settings.escape_hatches() {
        tracing::warn!("escape hatch open: {hatch}");
    }
    let metrics_at = metrics_addr.map_or_else(|| "off".to_owned(), |at| at.to_string());
    tracing::info!(%addr, metrics = %metrics_at, "c360 serving");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = settings.server.drain + settings.server.shutdown_grace;
    let server = app.serve(listener, metrics, async move {
        signalled.await;
        let _ = stop_tx.send(());
    });
    tokio::select! {
        result = server => {
            result?;
            tracing::info!("c360 stopped: every call finished");
            Ok(())
        }
        () = grace_expired(stop_rx, grace) => {
            tracing::warn!(
                drain = %humantime::format_duration(settings.server.drain),
                shutdown_grace = %humantime::format_duration(settings.server.shutdown_grace),
                "calls still in flight after the drain and the grace; cutting them off"
            );
            anyhow::bail!("calls were still in flight after the drain and the grace; they were cut off")
        }
    }
}

/// The start-up line: what this is and how it was told to run, for whoever reads the log
/// after an incident (the database URLs without their passwords).
fn starting(settings: &Settings, config: Option<&std::path::Path>) {
    use c360::core::db::redact;
    let auth = &settings.auth;
    let auth_mode = match (auth.enabled, auth.jwt.is_some(), auth.api_keys.is_empty()) {
        (false, ..) => "off".to_owned(),
        (true, true, true) => "bearer tokens".to_owned(),
        (true, false, false) => format!("{} API keys", auth.api_keys.len()),
        (true, true, false) => format!("bearer tokens and {} API keys", auth.api_keys.len()),
        (true, false, true) => "on, with no credential configured".to_owned(),
    };
    let backends = c360::core::vocab::SourceKind::ALL
        .map(|kind| {
            let url = settings.sources.of(kind).url(&settings.database);
            format!("{}={}", kind.as_str(), redact(&url))
        })
        .join(" ");
    tracing::info!(
        version = c360::edge::replica::VERSION,
        revision = c360::edge::replica::REVISION,
        config = %config.map_or_else(|| "none (defaults and C360_ variables)".to_owned(), |c| c.display().to_string()),
        auth = %auth_mode,
        cache = %format!("{} MiB", settings.cache.max_bytes >> 20),
        redis = %redis_shown(&settings.redis),
        feed = if settings.feed.enabled { "on" } else { "off" },
        %backends,
        "c360 starting"
    );
}

/// Where L2 is, for the start-up line: a URL, a cluster's nodes, or off; no passwords.
fn redis_shown(redis: &c360::core::cache::RedisSettings) -> String {
    use c360::core::db::redact;
    match (&redis.url, redis.cluster_urls.as_slice()) {
        (Some(url), _) => redact(url),
        (None, []) => "off".to_owned(),
        (None, nodes) => {
            let nodes: Vec<_> = nodes.iter().map(|n| redact(n)).collect();
            format!("cluster of {}", nodes.join(" "))
        }
    }
}

/// Resolves `grace` after the shutdown signal; never if there is none.
async fn grace_expired(signalled: tokio::sync::oneshot::Receiver<()>, grace: Duration) {
    if signalled.await.is_ok() {
        tokio::time::sleep(grace).await;
    } else {
        std::future::pending::<()>().await;
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a signal that comes right after a "serving" line still stops c360 gracefully.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let wait = |signal: Option<Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let interrupt = wait(signal(SignalKind::interrupt()).ok());
        let terminate = wait(signal(SignalKind::terminate()).ok());
        async move {
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
