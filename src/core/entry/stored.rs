//! The bytes L2 stores for an entry: when its backends were read and the fingerprint of the
//! catalog its orders were enriched from, then the profile's fields — the customer id, each
//! section (the insights without their `complete` flag, which the reports decide), and every
//! backend's report — and, under a field number of L2's own, what the backends answered that
//! the profile does not show (the orders' totals), so that a replica can enrich the entry again
//! from a new catalog without asking them. Fields numbered from 1000 that this version does not
//! know are skipped: the packed answers older versions wrote, and whatever newer ones add.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use c360_proto as pb;
use chrono::DateTime;
use prost::{
    Message,
    encoding::{self, WireType},
};

use super::{
    EncodedProfile, Parts,
    chunks::{CUSTOMER_FIELD, SOURCES_FIELD, field_number},
};
use crate::{
    core::convert,
    core::profile::Unshown,
    core::vocab::{Section, SourceKind, SourceReports, Timestamp},
};

/// L2's own fields start here: far from `CustomerProfile`'s own.
const OWN_FIELDS: u32 = 1000;
/// What the backends answered that the profile does not show. (1000 held the backends' whole
/// answers, packed, until entries read them back from the profile.)
const UNSHOWN_FIELD: u32 = 1001;

/// An entry as L2 holds it.
#[derive(Debug)]
pub struct L2Entry {
    /// The profile.
    pub profile: EncodedProfile,
    /// When its backends were read.
    pub loaded_at: Timestamp,
    /// The fingerprint of the catalog it was enriched from.
    pub catalog: u64,
    /// What the backends answered that the profile does not show, if the filler knew.
    pub unshown: Option<Unshown>,
}

impl L2Entry {
    /// Whether a catalog change can be applied to it without asking the backends: it has no
    /// orders, or its filler kept what the backends answered that it does not show.
    pub fn can_be_enriched_again(&self) -> bool {
        self.unshown.is_some() || !self.profile.has(Section::Orders)
    }
}

/// Why bytes from L2 could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable cached profile: {0}")]
pub struct DecodeError(String);

impl EncodedProfile {
    /// The bytes L2 stores for this entry, read from the backends at `loaded_at` and enriched
    /// from the catalog whose fingerprint is `catalog` (with what its backends answered that
    /// it does not show, if known).
    pub fn to_l2(&self, loaded_at: Timestamp, catalog: u64, unshown: Option<Unshown>) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len() + 160);
        out.put_i64(loaded_at.timestamp_micros());
        out.put_u64(catalog);
        out.put_slice(&self.body[..self.head as usize]);
        for section in Section::ALL {
            if let Some(fields) = self.fields(section) {
                let key = field_number(section);
                encoding::encode_key(key, WireType::LengthDelimited, &mut out);
                encoding::encode_varint(fields.len() as u64, &mut out);
                out.put_slice(&fields);
            }
        }
        for kind in SourceKind::ALL {
            let report = convert::source_report(kind, self.sources[kind]);
            encoding::message::encode(SOURCES_FIELD, &report, &mut out);
        }
        if let Some(unshown) = unshown {
            encoding::bytes::encode(UNSHOWN_FIELD, &unshown.to_bytes(), &mut out);
        }
        out.freeze()
    }

    /// Reads back what [`Self::to_l2`] wrote.
    pub fn from_l2(mut bytes: Bytes) -> Result<L2Entry, DecodeError> {
        let fail = |what: &str| DecodeError(what.to_owned());
        if bytes.len() < 16 {
            return Err(fail("too short"));
        }
        let loaded_at =
            DateTime::from_timestamp_micros(bytes.get_i64()).ok_or_else(|| fail("bad time"))?;
        let catalog = bytes.get_u64();
        let mut customer = None;
        let mut parts: Parts = Default::default();
        let mut sources = SourceReports::skipped();
        let mut unshown = None;
        while bytes.has_remaining() {
            let (field, wire_type) =
                encoding::decode_key(&mut bytes).map_err(|e| fail(&e.to_string()))?;
            if wire_type != WireType::LengthDelimited {
                return Err(fail("unexpected wire type"));
            }
            let len = usize::try_from(
                encoding::decode_varint(&mut bytes).map_err(|e| fail(&e.to_string()))?,
            )
            .map_err(|_| fail("length"))?;
            if len > bytes.remaining() {
                return Err(fail("truncated"));
            }
            let value = bytes.split_to(len);
            match field {
                CUSTOMER_FIELD => {
                    let text = std::str::from_utf8(&value).map_err(|_| fail("customer id"))?;
                    customer = text.parse().ok();
                }
                SOURCES_FIELD => {
                    let report =
                        pb::SourceReport::decode(value).map_err(|e| fail(&e.to_string()))?;
                    let (kind, report) =
                        convert::source_report_from(&report).ok_or_else(|| fail("report"))?;
                    sources[kind] = report;
                }
                UNSHOWN_FIELD => {
                    unshown = Some(Unshown::from_bytes(&value).ok_or_else(|| fail("totals"))?);
                }
                OWN_FIELDS.. => {}
                other => {
                    let section = Section::ALL
                        .into_iter()
                        .find(|s| field_number(*s) == other)
                        .ok_or_else(|| fail("unknown field"))?;
                    parts[section as usize] = Some(value);
                }
            }
        }
        let customer = customer.ok_or_else(|| fail("no customer id"))?;
        Ok(L2Entry {
            profile: Self::lay_out(customer, &parts, sources),
            loaded_at,
            catalog,
            unshown,
        })
    }
}
