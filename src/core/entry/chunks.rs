//! The protobuf pieces an entry is laid out from and served with: a section's chunk (its
//! field key, its length, its fields), a message parted around one of its fields, the
//! backends' reports and the cache information as each request sees them. Written against
//! prost's encoding primitives, so that the hit path encodes only what is per request.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use c360_proto as pb;
use prost::{
    Message,
    encoding::{self, WireType},
};

use super::ServedFrom;
use crate::core::{
    convert,
    vocab::{Section, SectionSet, SourceKind, SourceReports, SourceStatus, Timestamp},
};

/// The `CustomerProfile` field number of each section.
pub(super) fn field_number(section: Section) -> u32 {
    match section {
        Section::Identity => 2,
        Section::Billing => 3,
        Section::Orders => 4,
        Section::Shipments => 5,
        Section::Interactions => 6,
        Section::Insights => 7,
    }
}

pub(super) const CUSTOMER_FIELD: u32 = 1;
/// `Billing.payment_methods`.
pub(super) const PAYMENT_METHODS_FIELD: u32 = 3;
pub(super) const SOURCES_FIELD: u32 = 8;
pub(super) const CACHE_FIELD: u32 = 9;
/// `cache`: `CacheInfo { served_from = 1, age = 2 }`, the age a `google.protobuf.Duration
/// { seconds = 1, nanos = 2 }`, zero values left out as proto3 does. Written by hand: it is
/// the one part of a whole-profile hit made per request, and prost's generic path costs
/// about 120 instructions more per answer, a seventh of the whole (`scripts/instructions`,
/// BENCHMARKS.md). A test holds it to prost's bytes.
pub(super) fn encode_cache_info(from: ServedFrom, age: Duration, out: &mut BytesMut) {
    fn varint_field_len(value: u64) -> usize {
        if value == 0 {
            0
        } else {
            1 + encoding::encoded_len_varint(value)
        }
    }
    fn put_varint_field(tag: u32, value: u64, out: &mut BytesMut) {
        if value != 0 {
            encoding::encode_key(tag, WireType::Varint, out);
            encoding::encode_varint(value, out);
        }
    }
    let served_from = match from {
        ServedFrom::L1 => pb::CacheTier::L1,
        ServedFrom::L2 => pb::CacheTier::L2,
        ServedFrom::Sources => pb::CacheTier::Sources,
    } as u64;
    let (seconds, nanos) = (age.as_secs(), u64::from(age.subsec_nanos()));
    let age_len = varint_field_len(seconds) + varint_field_len(nanos);
    let cache_len =
        varint_field_len(served_from) + 1 + encoding::encoded_len_varint(age_len as u64) + age_len;
    encoding::encode_key(CACHE_FIELD, WireType::LengthDelimited, out);
    encoding::encode_varint(cache_len as u64, out);
    put_varint_field(1, served_from, out);
    encoding::encode_key(2, WireType::LengthDelimited, out);
    encoding::encode_varint(age_len as u64, out);
    put_varint_field(1, seconds, out);
    put_varint_field(2, nanos, out);
}

/// A section message's fields, as [`Parts`] holds them.
pub(super) fn fields(message: &impl Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// Writes `section`'s chunk: its field key, the length of `pieces`, and `pieces`. Returns the
/// length of the key and length.
pub(super) fn put_chunk(section: Section, pieces: &[&[u8]], out: &mut BytesMut) -> u8 {
    let start = out.len();
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    encoding::encode_key(field_number(section), WireType::LengthDelimited, out);
    encoding::encode_varint(len as u64, out);
    let key = u8::try_from(out.len() - start).unwrap_or(u8::MAX);
    pieces.iter().for_each(|p| out.put_slice(p));
    key
}

/// A message's encoded `fields` parted into those not numbered `number` and those that are,
/// in their order; `None` when none is, or the bytes do not parse as fields (they are then
/// kept whole).
pub(super) fn split_field(fields: &[u8], number: u32) -> Option<(Vec<u8>, Vec<u8>)> {
    let (mut others, mut chosen) = (Vec::with_capacity(fields.len()), Vec::new());
    let mut rest = fields;
    while !rest.is_empty() {
        let before = rest;
        let (field, wire_type) = encoding::decode_key(&mut rest).ok()?;
        let skip = match wire_type {
            WireType::Varint => {
                encoding::decode_varint(&mut rest).ok()?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => {
                usize::try_from(encoding::decode_varint(&mut rest).ok()?).ok()?
            }
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        rest = rest.get(skip..)?;
        let whole = &before[..before.len() - rest.len()];
        if field == number {
            chosen.extend_from_slice(whole);
        } else {
            others.extend_from_slice(whole);
        }
    }
    (!chosen.is_empty()).then_some((others, chosen))
}

/// Encodes the reports as a caller that asked for `sections` sees them; with `now`, stale
/// reports carry their age.
pub(super) fn encode_reports(
    sources: &SourceReports,
    sections: SectionSet,
    now: Option<Timestamp>,
    out: &mut BytesMut,
) {
    for kind in SourceKind::ALL {
        let report = sources.report_for(kind, sections);
        let mut wire = convert::source_report(kind, report);
        if report.status == SourceStatus::Stale {
            wire.age = now
                .zip(report.fetched_at)
                .and_then(|(now, at)| (now - at).to_std().ok())
                .map(convert::duration);
        }
        encoding::message::encode(SOURCES_FIELD, &wire, out);
    }
}

pub(super) fn offset(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}
