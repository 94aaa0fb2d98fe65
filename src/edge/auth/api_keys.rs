//! API keys, for services: stored hashed (SHA-256) in the configuration; the key itself
//! exists only with its holder.

use sha2::{Digest, Sha256};

/// A new random API key (`c360_k_` and 32 random bytes, hex): give it to the service, put its
/// [`api_key_hash`] in the configuration.
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("c360_k_{hex}")
}

/// SHA-256 of `key`, hex: what the configuration stores for an API key.
pub fn api_key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
