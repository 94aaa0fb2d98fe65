//! Profiles sealed in Redis: encrypted and authenticated with ChaCha20-Poly1305 under a key
//! of the configuration, bound to a place: the Redis key they are stored under, and what
//! else the caller names (L2 names the customer's generation and epoch). Anyone who can read
//! Redis learns nothing of a profile; anyone who can write to it cannot forge one, nor move a
//! customer's entry under another customer's key, nor put an entry back once its place has
//! moved on: such an entry fails to open, is a miss, and is counted, never served.
//!
//! Keys rotate by id: the first key seals, every key opens, so a new key is put first and
//! the old one kept until the entries it sealed have expired (`redis.ttl`).
//!
//! A sealed entry: `0xC3 0x60`, a version byte (1), the key id's length and bytes, a random
//! 96-bit nonce, and the ciphertext with its 16-byte tag.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};

const MAGIC: [u8; 3] = [0xC3, 0x60, 1];
const NONCE: usize = 12;

/// The keys L2 entries are sealed with.
#[derive(Clone)]
pub struct SealKeys {
    /// The first seals; all open.
    keys: Vec<(String, ChaCha20Poly1305)>,
}

impl std::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SealKeys").field("ids", &ids).finish()
    }
}

/// Why a key could not be read from the configuration (the key itself is never repeated). Each
/// reads after "it", as an out-of-range value's rule does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not `id:base64`.
    #[error(
        "must be written id:base64-of-32-bytes, the id of letters, digits, - or _ (at most 32)"
    )]
    Shape,
    /// The base64 does not decode to 32 bytes.
    #[error("must hold a key of 32 bytes, base64-encoded (head -c 32 /dev/urandom | base64)")]
    Length,
    /// Two keys with one id.
    #[error("uses an id twice")]
    DuplicateId,
}

/// Why a sealed entry was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Not a sealed entry (written by something else, or before sealing).
    #[error("not a sealed entry")]
    NotSealed,
    /// Sealed under a key this replica does not have.
    #[error("sealed under an unknown key")]
    UnknownKey,
    /// It does not authenticate: changed, forged, or moved from another key.
    #[error("does not authenticate")]
    Forged,
}

/// One configured key, `id:base64`: its id and the 32 bytes.
pub fn parse_key(text: &str) -> Result<(String, [u8; 32]), KeyError> {
    let (id, key) = text.split_once(':').ok_or(KeyError::Shape)?;
    let id_ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(KeyError::Shape);
    }
    let bytes = STANDARD.decode(key.trim()).map_err(|_| KeyError::Length)?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length)?;
    Ok((id.to_owned(), key))
}

impl SealKeys {
    /// The keys of the configuration (`id:base64` each), the first to seal with; `None` if
    /// there are none.
    pub fn from_config<'a>(
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<Self>, KeyError> {
        let mut parsed: Vec<(String, ChaCha20Poly1305)> = Vec::new();
        for text in keys {
            let (id, key) = parse_key(text)?;
            if parsed.iter().any(|(other, _)| *other == id) {
                return Err(KeyError::DuplicateId);
            }
            parsed.push((id, ChaCha20Poly1305::new(&key.into())));
        }
        Ok((!parsed.is_empty()).then_some(Self { keys: parsed }))
    }

    /// `plain` sealed for storage under `place` (the Redis key and what it is bound to).
    pub fn seal(&self, place: &[u8], plain: &[u8]) -> Vec<u8> {
        let (id, cipher) = &self.keys[0];
        let nonce: [u8; NONCE] = rand::random();
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: place,
                },
            )
            .unwrap_or_else(|_| unreachable!("ChaCha20-Poly1305 seals any length Redis holds"));
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + id.len() + NONCE + sealed.len());
        out.extend_from_slice(&MAGIC);
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// What was sealed for `place`, if it opens under one of the keys.
    pub fn open(&self, place: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Rejected> {
        let rest = sealed.strip_prefix(&MAGIC).ok_or(Rejected::NotSealed)?;
        let (&id_len, rest) = rest.split_first().ok_or(Rejected::NotSealed)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE {
            return Err(Rejected::NotSealed);
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, ciphertext) = rest.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| Rejected::NotSealed)?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(known, _)| known.as_bytes() == id)
            .ok_or(Rejected::UnknownKey)?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: place,
                },
            )
            .map_err(|_| Rejected::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    fn keys(list: &[String]) -> SealKeys {
        SealKeys::from_config(list.iter().map(String::as_str))
            .unwrap()
            .expect("keys")
    }

    #[test]
    fn a_sealed_profile_opens_only_where_it_was_stored_and_hides_its_content() {
        let keys = keys(&[key("k1", 1)]);
        let profile = b"Ada Lovelace, ada@example.com, card ending 4242";
        let sealed = keys.seal(b"c360:v2:profile:7", profile);
        assert!(!sealed.windows(3).any(|w| w == b"Ada"));
        assert_eq!(keys.open(b"c360:v2:profile:7", &sealed).unwrap(), profile);
        // Moved under another customer's key: refused.
        assert_eq!(
            keys.open(b"c360:v2:profile:8", &sealed),
            Err(Rejected::Forged)
        );
        // One bit changed: refused.
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert_eq!(
            keys.open(b"c360:v2:profile:7", &changed),
            Err(Rejected::Forged)
        );
        // Written in clear by someone else: refused.
        assert_eq!(
            keys.open(b"c360:v2:profile:7", profile),
            Err(Rejected::NotSealed)
        );
        assert_eq!(
            keys.open(b"c360:v2:profile:7", &[]),
            Err(Rejected::NotSealed)
        );
    }

    #[test]
    fn keys_rotate_by_id_the_first_sealing_every_one_opening() {
        let old = keys(&[key("k1", 1)]);
        let sealed_before = old.seal(b"p", b"before");
        let rotated = keys(&[key("k2", 2), key("k1", 1)]);
        assert_eq!(rotated.open(b"p", &sealed_before).unwrap(), b"before");
        let sealed_after = rotated.seal(b"p", b"after");
        assert_eq!(&sealed_after[4..6], b"k2");
        // A replica without the new key cannot read what the new key sealed.
        assert_eq!(old.open(b"p", &sealed_after), Err(Rejected::UnknownKey));
        // Same id, another key: a forgery as far as the reader can tell.
        let impostor = keys(&[key("k2", 9)]);
        assert_eq!(impostor.open(b"p", &sealed_after), Err(Rejected::Forged));
    }

    #[test]
    fn configured_keys_are_checked_and_never_repeated_in_errors() {
        assert_eq!(SealKeys::from_config([]).unwrap().map(|_| ()), None);
        assert_eq!(parse_key("nocolon").unwrap_err(), KeyError::Shape);
        assert_eq!(parse_key(":AAAA").unwrap_err(), KeyError::Shape);
        assert_eq!(parse_key("bad id:AAAA").unwrap_err(), KeyError::Shape);
        assert_eq!(parse_key("k1:c2hvcnQ=").unwrap_err(), KeyError::Length);
        assert_eq!(parse_key("k1:not base64!").unwrap_err(), KeyError::Length);
        let (one, two) = (key("k1", 1), key("k1", 2));
        let twice = SealKeys::from_config([one.as_str(), two.as_str()]);
        assert_eq!(twice.unwrap_err(), KeyError::DuplicateId);
        let secret = key("k1", 7);
        let debug = format!("{:?}", keys(std::slice::from_ref(&secret)));
        assert!(!debug.contains(&secret[3..]), "{debug}");
    }
}
