//! Byte sizes in settings, as operators write them: `268435456`, `"256MiB"`, `"512 KB"`,
//! `"1GiB"` (binary units by `i`, decimal ones without; `B` alone, or nothing, is bytes).
//! Serialized as the plain number. Use as `#[serde(with = "crate::core::settings::byte_size")]`.

use serde::{Deserialize, Deserializer, Serializer, de};

/// Writes `bytes` as the number.
pub fn serialize<S: Serializer>(bytes: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(*bytes)
}

/// Reads a number of bytes, or a size with its unit.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Number(u64),
        Text(String),
    }
    match Given::deserialize(deserializer).map_err(|_| {
        de::Error::custom("must be a byte size: a number of bytes, or one with a unit (256MiB)")
    })? {
        Given::Number(bytes) => Ok(bytes),
        Given::Text(text) => parse(&text).ok_or_else(|| {
            de::Error::custom(
                "must be a byte size: a number of bytes, or one with a unit \
                 (B, KB, MB, GB, KiB, MiB, GiB), e.g. 256MiB",
            )
        }),
    }
}

/// `text` as bytes, if it is a size.
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_or_without_units() {
        assert_eq!(parse("268435456"), Some(256 << 20));
        assert_eq!(parse("256MiB"), Some(256 << 20));
        assert_eq!(parse("256 mib"), Some(256 << 20));
        assert_eq!(parse("512KB"), Some(512_000));
        assert_eq!(parse("1GiB"), Some(1 << 30));
        assert_eq!(parse("10B"), Some(10));
        assert_eq!(parse("lots"), None);
        assert_eq!(parse("1.5GiB"), None);
        assert_eq!(parse("5 parsecs"), None);
        assert_eq!(parse("99999999999999GiB"), None, "overflow");
    }
}
