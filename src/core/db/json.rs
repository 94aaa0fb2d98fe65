//! Reading the JSON documents Postgres builds for a source's one statement
//! ([`super::Db::fetch_json`]): its timestamps, as Postgres writes them (`2024-01-04T08:15:28+00:00`,
//! a fraction of a second when there is one), read at fixed positions. chrono's general RFC 3339
//! parser took a tenth of a miss's instructions (BENCHMARKS.md, "A miss against the backends'
//! own limit, third step"); any other form it accepts is still read by it.

use chrono::{NaiveDate, TimeDelta};
use serde::{Deserializer, de};

use crate::core::vocab::Timestamp;

/// A timestamp field: `#[serde(deserialize_with = "json::timestamp")]`.
pub fn timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    deserializer.deserialize_str(TimestampVisitor)
}

/// A timestamp field that may be `null`.
pub fn optional_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Timestamp>, D::Error> {
    deserializer.deserialize_option(OptionalTimestamp)
}

struct TimestampVisitor;

impl de::Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        parse(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

struct OptionalTimestamp;

impl<'de> de::Visitor<'de> for OptionalTimestamp {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        timestamp(deserializer).map(Some)
    }
}

/// `text` as a timestamp: Postgres's form read directly, anything else by chrono.
fn parse(text: &str) -> Option<Timestamp> {
    postgres_form(text.as_bytes()).or_else(|| text.parse().ok())
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or `None` for chrono to judge.
fn postgres_form(s: &[u8]) -> Option<Timestamp> {
    let digits = |from: usize, to: usize| -> Option<u32> {
        s.get(from..to)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let at_places = |places: &[(usize, u8)]| places.iter().all(|&(at, c)| s.get(at) == Some(&c));
    if s.len() < 20 || !at_places(&[(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]) {
        return None;
    }
    let year = i32::try_from(digits(0, 4)?).ok()?;
    let (month, day) = (digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let mut at = 19;
    let mut nanos = 0;
    if s[at] == b'.' {
        let from = at + 1;
        at = from + s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        let places = at - from;
        if places == 0 || places > 9 {
            return None;
        }
        nanos = digits(from, at)? * 10u32.pow(9 - places as u32);
    }
    let offset_minutes = match &s[at..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let [_, _, b':', _, _] = rest else {
                return None;
            };
            let (hours, minutes) = (digits(at + 1, at + 3)?, digits(at + 4, at + 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = i64::from(hours * 60 + minutes);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let local = NaiveDate::from_ymd_opt(year, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?
        .and_utc();
    local.checked_sub_signed(TimeDelta::minutes(offset_minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(text: &str) -> Option<Timestamp> {
        text.parse().ok()
    }

    #[test]
    fn postgres_forms_read_as_chrono_reads_them() {
        let mut cases = vec![
            "2024-01-04T08:15:28+00:00".to_owned(),
            "2024-01-04T13:45:28+05:30".to_owned(),
            "2024-01-04T03:15:28-05:00".to_owned(),
            "2024-02-29T23:59:59.5Z".to_owned(),
            "1999-12-31T23:59:59.123456789-09:30".to_owned(),
            "2026-11-08T16:21:05.000001+14:00".to_owned(),
            "2023-12-31T23:59:59.999999999-23:59".to_owned(),
            "0001-01-01T00:00:00+00:00".to_owned(),
        ];
        // A spread of dates, times, fractions and offsets, written as Postgres writes them.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..5_000 {
            let fraction = match next(3) {
                0 => String::new(),
                1 => format!(".{:06}", next(1_000_000)),
                _ => format!(".{}", next(10)),
            };
            let offset = match next(3) {
                0 => "+00:00".to_owned(),
                1 => format!("-{:02}:00", next(13)),
                _ => format!("+{:02}:{:02}", next(15), next(60)),
            };
            cases.push(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{offset}",
                1970 + next(100),
                1 + next(12),
                1 + next(28),
                next(24),
                next(60),
                next(60),
            ));
        }
        for case in &cases {
            let fast = postgres_form(case.as_bytes());
            assert!(fast.is_some(), "{case} not read directly");
            assert_eq!(fast, chrono(case), "{case}");
        }
    }

    #[test]
    fn other_forms_are_left_to_chrono_and_nonsense_is_refused() {
        for other in [
            "2024-01-04 08:15:28+00:00",
            "2024-01-04t08:15:28z",
            "2024-01-04T08:15:60Z",
        ] {
            assert_eq!(postgres_form(other.as_bytes()), None, "{other}");
            assert_eq!(parse(other), chrono(other), "{other}");
        }
        assert!(parse("2024-01-04 08:15:28+00:00").is_some());
        for nonsense in [
            "",
            "2024-01-04",
            "2024-13-04T08:15:28Z",
            "2024-02-30T08:15:28Z",
            "2024-01-04T08:15:28",
            "2024-01-04T08:15:28.Z",
            "2024-01-04T08:15:28+00",
            "2024-01-04T08:15:28+0",
            "2024-01-04T08:15:28+00:0",
            "2024-01-04T08:15:28+00:60",
            "2024-01-04T08:15:28+24:00",
            "２０24-01-04T08:15:28Z",
        ] {
            assert_eq!(parse(nonsense), None, "{nonsense:?}");
        }
    }

    #[test]
    fn fields_read_from_documents() {
        #[derive(serde::Deserialize, Debug)]
        struct Row {
            #[serde(deserialize_with = "timestamp")]
            at: Timestamp,
            #[serde(deserialize_with = "optional_timestamp")]
            maybe: Option<Timestamp>,
        }
        let row: Row = serde_json::from_str(r#"["2024-01-04T13:45:28+05:30", null]"#).unwrap();
        assert_eq!(row.at, chrono("2024-01-04T08:15:28Z").unwrap());
        assert_eq!(row.maybe, None);
        let row: Row = serde_json::from_str(
            r#"{"at": "2024-01-04T08:15:28Z", "maybe": "2024-01-04T08:15:28.25+00:00"}"#,
        )
        .unwrap();
        assert_eq!(row.maybe, chrono("2024-01-04T08:15:28.25Z"));
        let error = serde_json::from_str::<Row>(r#"["yesterday", null]"#).unwrap_err();
        assert!(error.to_string().contains("RFC 3339"), "{error}");
    }
}
