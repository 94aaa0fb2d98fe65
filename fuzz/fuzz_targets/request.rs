//! Request validation: ids, lookup keys, read masks, durations and the `grpc-timeout` header,
//! from arbitrary text. Nothing may panic, and a key that parses is its own normal form:
//! parsing what it prints gives it back.
#![no_main]

use std::{fmt::Debug, str::FromStr};

use c360::{
    edge::grpc::validate,
    core::vocab::{CustomerId, Email, OrderId, Phone, SectionSet, Sku},
};
use libfuzzer_sys::fuzz_target;

/// `raw`, parsed, printed and parsed again, gives the same key.
fn normal<T: FromStr + Debug + PartialEq>(raw: &str, print: impl Fn(&T) -> String) {
    if let Ok(key) = raw.parse::<T>() {
        let again = print(&key).parse::<T>().ok();
        assert_eq!(again.as_ref(), Some(&key), "{raw:?} does not round-trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 6 {
        0 => {
            normal::<CustomerId>(&text, |id| id.get().to_string());
            normal::<OrderId>(&text, |id| id.get().to_string());
            let _ = validate::keys::<CustomerId>("customer_ids", &[text.to_string()], 100);
        }
        1 => normal::<Phone>(&text, |p| p.as_str().to_owned()),
        2 => normal::<Email>(&text, |e| e.as_str().to_owned()),
        3 => normal::<Sku>(&text, |s| s.as_str().to_owned()),
        4 => {
            let paths: Vec<&str> = text.split(',').collect();
            if let Ok(set) = SectionSet::from_mask(&paths) {
                // What a mask selects, named again, selects the same.
                let named: Vec<&str> = set.iter().map(|s| s.path()).collect();
                if !set.is_empty() && set != SectionSet::ALL {
                    assert_eq!(SectionSet::from_mask(&named).ok(), Some(set));
                }
            }
            let mask = prost_types::FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            };
            let _ = validate::read_mask(Some(&mask));
        }
        _ => {
            if let Some(timeout) = validate::parse_grpc_timeout(&text) {
                // Eight digits of hours at most.
                assert!(timeout.as_secs() <= 99_999_999 * 3600);
            }
            if rest.len() >= 12 {
                let seconds = i64::from_le_bytes(rest[..8].try_into().unwrap_or_default());
                let nanos = i32::from_le_bytes(rest[8..12].try_into().unwrap_or_default());
                let age = prost_types::Duration { seconds, nanos };
                let _ = validate::freshness(Some(&age), rest.len() % 2 == 0);
            }
        }
    }
});
