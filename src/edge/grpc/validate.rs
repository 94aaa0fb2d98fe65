//! Request validation: every field checked, every problem reported at once, nothing read
//! before the whole request is valid.

use std::{str::FromStr, time::Duration};

use tokio::time::Instant;
use tonic::metadata::MetadataMap;

use super::status::Violation;
use crate::{
    core::read::Freshness,
    core::vocab::{KeyError, SectionSet},
};

/// Most ids in one batch read.
pub const MAX_BATCH: usize = 100;
/// Most ids in one cache administration request.
pub const MAX_ADMIN_BATCH: usize = 1000;

/// A checked field, or what is wrong with it (and maybe with others).
pub type Checked<T> = Result<T, Vec<Violation>>;

/// Both checks, or every violation of either.
pub fn both<A, B>(a: Checked<A>, b: Checked<B>) -> Checked<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(a.err().into_iter().chain(b.err()).flatten().collect()),
    }
}

/// A key of type `T` from `field`.
pub fn key<T: FromStr<Err = KeyError>>(field: &str, raw: &str) -> Checked<T> {
    raw.parse()
        .map_err(|e: KeyError| vec![Violation::new(field, e)])
}

/// Up to `max` keys from the repeated `field`, in order.
pub fn keys<T: FromStr<Err = KeyError>>(
    field: &str,
    raws: &[String],
    max: usize,
) -> Checked<Vec<T>> {
    if raws.len() > max {
        return Err(vec![Violation::new(
            field,
            format!("at most {max} per request, got {}", raws.len()),
        )]);
    }
    let mut keys = Vec::with_capacity(raws.len());
    let mut violations = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        match raw.parse() {
            Ok(key) => keys.push(key),
            Err(e) => violations.push(Violation::new(format!("{field}[{i}]"), e)),
        }
    }
    if violations.is_empty() {
        Ok(keys)
    } else {
        Err(violations)
    }
}

/// The sections a read mask selects.
pub fn read_mask(mask: Option<&prost_types::FieldMask>) -> Checked<SectionSet> {
    let paths = mask.map_or(&[][..], |m| &m.paths[..]);
    SectionSet::from_mask(paths).map_err(|e| vec![Violation::new("read_mask", e)])
}

/// The freshness the caller asked for.
pub fn freshness(
    max_age: Option<&prost_types::Duration>,
    bypass_cache: bool,
) -> Checked<Freshness> {
    let fail = |description: &str| Err(vec![Violation::new("max_age", description)]);
    match (max_age, bypass_cache) {
        (None, false) => Ok(Freshness::AnyAge),
        (None, true) => Ok(Freshness::Bypass),
        (Some(_), true) => fail("cannot be combined with bypass_cache"),
        // Read by hand: prost's conversion normalises first, and overflows on
        // `seconds = i64::MIN` (found by fuzzing).
        (Some(age), false) => match (u64::try_from(age.seconds), u32::try_from(age.nanos)) {
            (Ok(seconds), Ok(nanos)) if nanos < 1_000_000_000 => {
                Ok(Freshness::MaxAge(Duration::new(seconds, nanos)))
            }
            _ => fail("must be a non-negative duration, nanos from 0 to 999,999,999"),
        },
    }
}

/// Leaves a little of the caller's time for the reply to travel back.
fn margin(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_micros(500), Duration::from_millis(20))
}

/// The caller's deadline from the `grpc-timeout` header, less a margin; `None` without one.
pub fn deadline(metadata: &MetadataMap) -> Checked<Option<Instant>> {
    let Some(header) = metadata.get("grpc-timeout") else {
        return Ok(None);
    };
    let timeout = header
        .to_str()
        .ok()
        .and_then(parse_grpc_timeout)
        .ok_or_else(|| vec![Violation::new("grpc-timeout", "malformed header")])?;
    Ok(Some(
        Instant::now() + timeout.saturating_sub(margin(timeout)),
    ))
}

/// `grpc-timeout`: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    // By bytes: the last character need not be one byte long (found by fuzzing).
    let (&unit, digits) = value.as_bytes().split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount = digits
        .iter()
        .fold(0, |n: u64, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::vocab::CustomerId;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let id = key::<CustomerId>("customer_id", "abc");
        let mask = read_mask(Some(&prost_types::FieldMask {
            paths: vec!["wallet".into()],
        }));
        let violations = both(id, mask).unwrap_err();
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["customer_id", "read_mask"]);
        assert!(violations[0].description.contains("positive integer"));
    }

    #[test]
    fn batches_name_the_position_of_each_bad_id_and_have_a_limit() {
        let raws = ["1", "x", "3", "-4"].map(String::from);
        let violations = keys::<CustomerId>("customer_ids", &raws, MAX_BATCH).unwrap_err();
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["customer_ids[1]", "customer_ids[3]"]);
        let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
        let violations = keys::<CustomerId>("customer_ids", &too_many, MAX_BATCH).unwrap_err();
        assert!(violations[0].description.contains("at most 100"));
        let ok = keys::<CustomerId>("customer_ids", &too_many[..100], MAX_BATCH).unwrap();
        assert_eq!(ok.len(), 100);
    }

    #[test]
    fn freshness_is_any_age_a_maximum_or_a_bypass_but_not_both() {
        let five = prost_types::Duration {
            seconds: 5,
            nanos: 0,
        };
        assert_eq!(freshness(None, false), Ok(Freshness::AnyAge));
        assert_eq!(freshness(None, true), Ok(Freshness::Bypass));
        assert_eq!(
            freshness(Some(&five), false),
            Ok(Freshness::MaxAge(Duration::from_secs(5)))
        );
        assert!(freshness(Some(&five), true).is_err());
        let negative = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert!(freshness(Some(&negative), false).is_err());
    }

    #[test]
    fn max_age_must_be_a_non_negative_duration_in_canonical_form() {
        let age = |seconds, nanos| prost_types::Duration { seconds, nanos };
        assert_eq!(
            freshness(Some(&age(1, 500)), false),
            Ok(Freshness::MaxAge(Duration::new(1, 500)))
        );
        // i64::MIN seconds: prost's own conversion overflows on it (found by fuzzing).
        for bad in [
            age(-1, 0),
            age(0, -1),
            age(0, 1_000_000_000),
            age(i64::MIN, -1),
        ] {
            assert!(freshness(Some(&bad), false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("100u"), Some(Duration::from_micros(100)));
        // "1€": a unit of three bytes, found by fuzzing (it panicked).
        for bad in ["", "m", "123456789m", "10x", "-5m", "1.5S", "1€", "€"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_deadline_keeps_a_margin_for_the_reply() {
        assert_eq!(margin(Duration::from_secs(10)), Duration::from_millis(20));
        assert_eq!(margin(Duration::from_millis(50)), Duration::from_millis(5));
        assert_eq!(margin(Duration::from_millis(1)), Duration::from_micros(500));
    }
}
