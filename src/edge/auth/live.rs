//! The authenticator in service, and its replacement when `[auth]` is read again: every call
//! takes the one in service as it comes in and is checked by it alone, so a reload is atomic
//! for each call. A new one starts with no remembered tokens (a revoked key or secret stops
//! working at once); callers' rate budgets carry over while the rate stays the same. Streams
//! hold the credential they were opened with ([`Presented`]) and end when a reload no longer
//! lets it in.

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderMap;
use tokio::sync::watch;

use super::{AuthError, Authenticator};

/// The authenticator in service.
#[derive(Debug)]
pub struct LiveAuth {
    current: ArcSwap<Authenticator>,
    /// Counts replacements, for the streams that check their credential again after each.
    replaced: watch::Sender<u64>,
}

impl LiveAuth {
    /// `first` in service.
    pub fn new(first: Authenticator) -> Self {
        Self {
            current: ArcSwap::from_pointee(first),
            replaced: watch::Sender::new(0),
        }
    }

    /// The authenticator in service now, kept: for what outlives a call or awaits.
    pub fn current(&self) -> Arc<Authenticator> {
        self.current.load_full()
    }

    /// The authenticator in service now, for one call checked at once: no reference count
    /// taken (the path every call takes); not to be held across an await.
    pub fn for_call(&self) -> arc_swap::Guard<Arc<Authenticator>> {
        self.current.load()
    }

    /// Puts `next` in service, for every call from now on; streams open check their
    /// credential against it.
    pub fn replace(&self, mut next: Authenticator) {
        let now = self.current.load();
        if next.rate == now.rate {
            next.limiter = now.limiter.clone();
        }
        self.current.store(Arc::new(next));
        self.replaced.send_modify(|count| *count += 1);
    }

    /// The credential of `headers`, presented for `rpc` (`Service/Method`), to check again
    /// after each replacement.
    pub fn presented(self: &Arc<Self>, headers: &HeaderMap, rpc: &str) -> Presented {
        let mut kept = HeaderMap::new();
        for name in [http::header::AUTHORIZATION.as_str(), "x-api-key"] {
            if let Some(value) = headers.get(name) {
                kept.insert(http::HeaderName::from_static(name), value.clone());
            }
        }
        Presented {
            auth: self.clone(),
            headers: kept,
            rpc: rpc.to_owned(),
        }
    }
}

/// A credential as a stream's caller presented it: what ends the stream when `[auth]` no
/// longer lets it in.
#[derive(Debug, Clone)]
pub struct Presented {
    auth: Arc<LiveAuth>,
    headers: HeaderMap,
    rpc: String,
}

impl Presented {
    /// Resolves, with why, once a replacement of the authenticator refuses this credential
    /// or its RPC; never while each one lets it in.
    pub async fn revoked(self) -> AuthError {
        let mut replaced = self.auth.replaced.subscribe();
        loop {
            if replaced.changed().await.is_err() {
                return std::future::pending().await;
            }
            let auth = self.auth.current();
            let checked = auth
                .authenticate(&self.headers)
                .and_then(|caller| auth.authorize(&caller, &self.rpc));
            if let Err(why) = checked {
                return why;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::auth::{ApiKeySettings, AuthSettings, api_key_hash};

    fn with_keys(keys: &[(&str, &str)]) -> Authenticator {
        let settings = AuthSettings {
            enabled: true,
            api_keys: keys
                .iter()
                .map(|(name, key)| ApiKeySettings {
                    name: (*name).into(),
                    sha256: api_key_hash(key),
                    roles: vec!["service".into()],
                })
                .collect(),
            ..AuthSettings::default()
        };
        settings.authenticator().unwrap().unwrap()
    }

    fn key(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn a_stream_ends_when_a_replacement_refuses_its_credential_and_not_before() {
        let rpc = "CustomerService/WatchCustomerProfile";
        let live = Arc::new(LiveAuth::new(with_keys(&[("a", "key-a"), ("b", "key-b")])));
        let a = tokio::spawn(live.presented(&key("key-a"), rpc).revoked());
        let b = tokio::spawn(live.presented(&key("key-b"), rpc).revoked());
        // Both still in after the first replacement; `a` refused by the second.
        live.replace(with_keys(&[("a", "key-a"), ("b", "key-b")]));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!a.is_finished() && !b.is_finished());
        live.replace(with_keys(&[("b", "key-b")]));
        let why = tokio::time::timeout(std::time::Duration::from_secs(5), a)
            .await
            .expect("ended")
            .unwrap();
        assert_eq!(why, AuthError::Invalid("unknown API key"));
        assert!(!b.is_finished());
        assert_eq!(*live.replaced.borrow(), 2, "replacements");
        assert!(live.current().authenticate(&key("key-a")).is_err());
    }
}
