//! The audit trail: one JSON line per profile read and per lookup — who asked (the caller's
//! name, `anonymous` with authentication off), for which customer, which sections, how it
//! ended, where the answer came from, and the request's id — cache hits included — and one
//! per refused call (credentials missing or refused, an RPC, section or freshness not granted,
//! a caller over its rate or its share: who, when known, which RPC, and why), to a sink
//! of its own (a file, or standard output), never the log. A lookup's key is masked: an
//! email keeps its first letter and domain, a phone number its last four digits.
//!
//! Records are written by a task of their own, so a slow disk never holds up a call; if the
//! writer falls behind by [`BACKLOG`] records, the newest are dropped and counted, and the
//! log says so once a second at most.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::{Deserialize, Serialize};
use tokio::{io::AsyncWriteExt, sync::mpsc};

/// Records the writer may fall behind by.
pub const BACKLOG: usize = 65_536;

/// One audited call.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Record {
    /// When it was answered, RFC 3339.
    pub time: String,
    /// The request's id: the caller's `x-request-id`, or one made up for it.
    pub request_id: String,
    /// Who asked.
    pub caller: String,
    /// `GetCustomerProfile`, `LookupCustomers`, … (for a refusal at the door, the method's
    /// path: `/customer360.v1.CacheAdminService/InvalidateCustomers`).
    pub rpc: std::borrow::Cow<'static, str>,
    /// The customer read, or found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub customers: Vec<String>,
    /// A lookup's key, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The sections served.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<&'static str>,
    /// `OK`, or the status code.
    pub outcome: String,
    /// Why the call was refused, when it was: what the caller was told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// An attention item acted on (`reason/cause`), with the version of the claim after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention: Option<String>,
    /// An offer recorded or settled (`problem kind amount state id`), or the problems an
    /// envelope answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// A history search's answer: how many hits it served of how many (its words are never
    /// recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// `L1`, `L2` or `SOURCES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_from: Option<&'static str>,
}

/// Where the audit trail goes: one JSON line per profile read and lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// A file the records are appended to.
    pub path: Option<String>,
    /// Or standard output.
    pub stdout: bool,
}

/// Where records go; cheap to clone. Off, it costs a branch.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    sink: Option<mpsc::Sender<String>>,
    dropped: Arc<AtomicU64>,
}

/// Why the audit trail cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit file {path}")]
pub struct AuditError {
    /// The file.
    path: String,
    /// Why.
    #[source]
    error: std::io::Error,
}

impl Audit {
    /// The trail `settings` describe: a file, else standard output, else none.
    pub async fn open(settings: &AuditSettings) -> Result<Self, AuditError> {
        match (&settings.path, settings.stdout) {
            (Some(path), _) => Self::file(Path::new(path))
                .await
                .map_err(|error| AuditError {
                    path: path.clone(),
                    error,
                }),
            (None, true) => Ok(Self::stdout()),
            (None, false) => Ok(Self::off()),
        }
    }

    /// No audit.
    pub fn off() -> Self {
        Self::default()
    }

    /// Records appended to the file at `path` (created if missing).
    pub async fn file(path: &Path) -> std::io::Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        Ok(Self::writing_to(file))
    }

    /// Records written to standard output.
    pub fn stdout() -> Self {
        Self::writing_to(tokio::io::stdout())
    }

    fn writing_to(out: impl tokio::io::AsyncWrite + Unpin + Send + 'static) -> Self {
        let (sink, mut records) = mpsc::channel::<String>(BACKLOG);
        tokio::spawn(async move {
            let mut out = tokio::io::BufWriter::new(out);
            while let Some(first) = records.recv().await {
                let mut batch = vec![first];
                while let Ok(next) = records.try_recv() {
                    batch.push(next);
                }
                for line in batch {
                    if out.write_all(line.as_bytes()).await.is_err() {
                        tracing::error!("the audit sink failed: records are being lost");
                    }
                }
                // Written out whenever the writer catches up.
                let _ = out.flush().await;
            }
        });
        Self {
            sink: Some(sink),
            dropped: Arc::default(),
        }
    }

    /// Whether records are kept.
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Records `record` (in the background).
    pub fn record(&self, record: &Record) {
        let Some(sink) = &self.sink else {
            return;
        };
        let Ok(mut line) = serde_json::to_string(record) else {
            return;
        };
        line.push('\n');
        if sink.try_send(line).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::error!(dropped, "the audit writer is behind: records dropped");
            }
        }
    }

    /// Records dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// An email with only its first character and domain left: `a***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// A phone number with only its last four digits left: `***0018`.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***{last}")
}

/// Whether a caller's request id can be kept as it is: letters, digits, `-`, `_`, `.`, 1 to
/// 64 of them. Anything else (spaces, quotes, control characters, a novel) is replaced.
pub fn sane_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The caller's request id if it is a sensible one ([`sane_request_id`]), else a new random
/// one.
pub fn request_id(given: Option<&str>) -> String {
    match given {
        Some(id) if sane_request_id(id.as_bytes()) => id.to_owned(),
        _ => new_request_id()
            .iter()
            .map(|&digit| char::from(digit))
            .collect(),
    }
}

/// A new request id: 128 random bits as 32 lower-case hex digits (written by hand: this runs
/// on every call that brings no id, and `format!` costs several times as much).
pub fn new_request_id() -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let id: u128 = rand::random();
    let mut hex = [0u8; 32];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = DIGITS[((id >> (124 - 4 * i)) & 0xf) as usize];
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_keys_are_masked() {
        assert_eq!(mask_email("ada.lovelace@example.com"), "a***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_phone("0044 20 7946 0018"), "***0018");
        assert_eq!(mask_phone("12"), "***12");
    }

    #[test]
    fn request_ids_are_kept_when_sensible_and_made_up_otherwise() {
        assert_eq!(request_id(Some("req-42.a_b")), "req-42.a_b");
        for bad in [None, Some(""), Some("a b"), Some("x\ny")] {
            let made = request_id(bad);
            assert_eq!(made.len(), 32, "{bad:?}");
            assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(request_id(Some(&"a".repeat(65))).len(), 32);
    }

    #[tokio::test]
    async fn records_are_json_lines_in_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::file(&path).await.unwrap();
        let record = Record {
            time: "2026-11-29T10:00:00Z".into(),
            request_id: "r1".into(),
            caller: "agent-7".into(),
            rpc: "GetCustomerProfile".into(),
            customers: vec!["42".into()],
            key: None,
            sections: vec!["identity", "billing"],
            outcome: "OK".into(),
            attention: None,
            offer: None,
            search: None,
            refused: None,
            served_from: Some("L1"),
        };
        audit.record(&record);
        audit.record(&record);
        let mut text = String::new();
        for _ in 0..100 {
            text = tokio::fs::read_to_string(&path).await.unwrap();
            if text.lines().count() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["caller"], "agent-7");
        assert_eq!(
            lines[0]["sections"],
            serde_json::json!(["identity", "billing"])
        );
        assert!(lines[0].get("key").is_none());
        assert!(!Audit::off().is_on());
    }
}
