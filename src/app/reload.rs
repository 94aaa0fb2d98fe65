//! `[auth]` read again while serving: on SIGHUP, and whenever the configuration file (or the
//! JWT keys file it names) changes, looked for every `auth.reload_interval`. The whole
//! configuration is read as at start (file, `C360_*` variables, flags) and must hold; only
//! `[auth]` is put in service, at once for every call after. A file that does not read or
//! does not hold, or that would turn authentication off, leaves the authenticator in service
//! as it was, with a warning. Streams whose credential the new `[auth]` refuses end.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use figment::value::Value;
use tokio::task::JoinHandle;

use super::config::Settings;
use crate::edge::auth::LiveAuth;

/// Where the configuration came from: read again the same way.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The configuration file.
    pub file: PathBuf,
    /// The flags given on the command line, as their dotted keys.
    pub flags: Vec<(&'static str, Value)>,
}

impl ConfigSource {
    /// The settings the source holds now, if they hold.
    fn read(&self) -> Result<Settings, String> {
        let settings =
            Settings::load(Some(&self.file), self.flags.clone()).map_err(|e| e.to_string())?;
        settings.validate().map_err(|e| e.to_string())?;
        Ok(settings)
    }
}

/// When a file was last written, and its size.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The files whose change means a reload: the configuration, and the keys file it names.
fn stamps(source: &ConfigSource, keys_file: Option<&Path>) -> [Stamp; 2] {
    [stamp(&source.file), keys_file.and_then(stamp)]
}

/// Reads `[auth]` from `source` again and puts it in service; why not, if it was not.
pub fn reload(auth: &LiveAuth, source: &ConfigSource) -> Result<Settings, String> {
    let settings = source.read()?;
    let next = settings
        .auth
        .authenticator()
        .map_err(|e| e.to_string())?
        .ok_or("it turns authentication off, which takes a restart")?;
    auth.replace(next);
    Ok(settings)
}

/// Reloads `[auth]` into `auth` on SIGHUP and on a change to the files, until aborted.
pub(super) fn spawn(auth: Arc<LiveAuth>, source: ConfigSource, first: &Settings) -> JoinHandle<()> {
    let mut interval = first.auth.reload_interval;
    let mut keys_file = keys_file(first);
    // Caught from now on: a SIGHUP once this returns reloads, never kills the process.
    let mut hangups = hangups();
    tokio::spawn(async move {
        let mut seen = stamps(&source, keys_file.as_deref());
        loop {
            let asked = tokio::select! {
                () = tokio::time::sleep(interval) => false,
                () = hangup(&mut hangups) => true,
            };
            let now = stamps(&source, keys_file.as_deref());
            if !asked && now == seen {
                continue;
            }
            seen = now;
            let why = if asked { "SIGHUP" } else { "the file changed" };
            match reload(&auth, &source) {
                Ok(settings) => {
                    interval = settings.auth.reload_interval;
                    keys_file = self::keys_file(&settings);
                    seen = stamps(&source, keys_file.as_deref());
                    tracing::info!(
                        reason = why,
                        api_keys = settings.auth.api_keys.len(),
                        roles = settings.auth.roles.len(),
                        "[auth] reloaded"
                    );
                }
                Err(error) => tracing::warn!(
                    reason = why,
                    %error,
                    "[auth] not reloaded: the configuration does not hold; still serving the previous one"
                ),
            }
        }
    })
}

fn keys_file(settings: &Settings) -> Option<PathBuf> {
    settings
        .auth
        .jwt
        .as_ref()?
        .keys_file
        .as_ref()
        .map(PathBuf::from)
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

/// SIGHUP, from now on (none where there is no such signal, or it cannot be caught).
fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup())
            .inspect_err(|error| tracing::warn!(%error, "SIGHUP cannot be caught: [auth] reloads on file changes only"))
            .ok()
    }
    #[cfg(not(unix))]
    None
}

/// The next SIGHUP; never if there are none to wait for.
async fn hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(signal) = hangups
        && signal.recv().await.is_some()
    {
        return;
    }
    #[cfg(not(unix))]
    let _ = hangups;
    std::future::pending().await
}
