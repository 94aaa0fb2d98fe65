//! A profile as the caches hold it: each section already encoded as the `CustomerProfile`
//! field it will be on the wire. Protobuf fields concatenate, so a response for any read mask
//! is the chunks it asks for; L2 stores the same chunks.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use chrono::DateTime;
use prost::{
    Message,
    encoding::{self, WireType},
};

use super::{
    WireProfile,
    convert::{self, id},
};
use crate::{
    keys::CustomerId,
    pb,
    profile::{Profile, Section, SectionSet, SourceReports, SourceStatus, Timestamp},
    sources::SourceKind,
};

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// In-process memory.
    L1,
    /// The shared Redis cache.
    L2,
    /// The backends, for this request.
    Sources,
}

/// The `CustomerProfile` field number of each section.
fn field_number(section: Section) -> u32 {
    match section {
        Section::Identity => 2,
        Section::Billing => 3,
        Section::Orders => 4,
        Section::Shipments => 5,
        Section::Interactions => 6,
        Section::Insights => 7,
    }
}

const SOURCES_FIELD: u32 = 8;
const CACHE_FIELD: u32 = 9;

/// The sections whose data comes from `kind` alone, which a stale copy may stand in for.
fn sections_of(kind: SourceKind) -> &'static [Section] {
    match kind {
        SourceKind::Billing => &[Section::Billing],
        SourceKind::Orders => &[Section::Orders],
        SourceKind::Fulfilment => &[Section::Shipments],
        SourceKind::Crm => &[Section::Identity, Section::Interactions],
    }
}

fn chunk(field: u32, message: &impl Message) -> Bytes {
    let mut buf = Vec::with_capacity(message.encoded_len() + 6);
    encoding::message::encode(field, message, &mut buf);
    Bytes::from(buf)
}

/// Why bytes from L2 could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable cached profile: {0}")]
pub struct DecodeError(String);

/// A profile's sections, encoded, with the reports of its backends.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedProfile {
    customer: CustomerId,
    sections: [Option<Bytes>; 6],
    sources: SourceReports,
}

impl EncodedProfile {
    /// Encodes every section `profile` has. Shipment delays are computed at `now`.
    pub fn encode(profile: &Profile, now: Timestamp) -> Self {
        let mut sections: [Option<Bytes>; 6] = Default::default();
        let field = field_number;
        sections[Section::Identity as usize] = profile
            .identity
            .as_ref()
            .map(|identity| chunk(field(Section::Identity), &pb::Identity::from(identity)));
        sections[Section::Billing as usize] = profile
            .billing
            .as_ref()
            .map(|billing| chunk(field(Section::Billing), &pb::Billing::from(billing)));
        sections[Section::Orders as usize] = profile.orders.as_ref().map(|orders| {
            let message = pb::Orders {
                recent: orders.iter().map(Into::into).collect(),
            };
            chunk(field(Section::Orders), &message)
        });
        sections[Section::Shipments as usize] = profile.shipments.as_ref().map(|shipments| {
            let message = pb::Shipments {
                recent: shipments
                    .iter()
                    .map(|s| convert::shipment(s, now))
                    .collect(),
            };
            chunk(field(Section::Shipments), &message)
        });
        sections[Section::Interactions as usize] =
            profile.interactions.as_ref().map(|interactions| {
                let message = pb::Interactions {
                    recent: interactions.iter().map(Into::into).collect(),
                };
                chunk(field(Section::Interactions), &message)
            });
        sections[Section::Insights as usize] = profile
            .insights
            .as_ref()
            .map(|insights| chunk(field(Section::Insights), &pb::Insights::from(insights)));
        Self {
            customer: profile.customer,
            sections,
            sources: profile.sources,
        }
    }

    /// Whose profile it is.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }

    /// What happened to each backend.
    pub fn sources(&self) -> &SourceReports {
        &self.sources
    }

    /// Whether `section` is present.
    pub fn has(&self, section: Section) -> bool {
        self.sections[section as usize].is_some()
    }

    /// Bytes of all sections.
    pub fn encoded_len(&self) -> usize {
        self.sections.iter().flatten().map(Bytes::len).sum()
    }

    /// Stands in the last good copy from `previous` for every backend that failed now, marked
    /// `STALE` with its original read time, unless that copy was read before `oldest`.
    pub fn carry_stale(&mut self, previous: &EncodedProfile, oldest: Timestamp) {
        let mut carried = false;
        for kind in SourceKind::ALL {
            let (now, before) = (self.sources[kind], previous.sources[kind]);
            let failed = matches!(
                now.status,
                SourceStatus::Timeout | SourceStatus::Unavailable | SourceStatus::CircuitOpen
            );
            let good_before = matches!(before.status, SourceStatus::Ok | SourceStatus::Stale)
                && before.fetched_at.is_some_and(|at| at >= oldest);
            if !(failed && good_before) {
                continue;
            }
            for section in sections_of(kind) {
                self.sections[*section as usize] = previous.sections[*section as usize].clone();
            }
            self.sources[kind].status = SourceStatus::Stale;
            self.sources[kind].fetched_at = before.fetched_at;
            carried = true;
        }
        // Without the orders backend there are no fresh insights: the last ones stand in,
        // marked incomplete.
        let insights = Section::Insights as usize;
        if carried && self.sections[insights].is_none() {
            self.sections[insights] = previous.sections[insights].as_ref().and_then(|chunk| {
                let mut insights = decode_chunk::<pb::Insights>(chunk)?;
                insights.complete = false;
                Some(self::chunk(field_number(Section::Insights), &insights))
            });
        }
    }

    /// The same profile with every backend's data marked `STALE`: what is served when no
    /// backend answers now.
    pub fn all_stale(&self) -> Self {
        let mut stale = self.clone();
        for kind in SourceKind::ALL {
            let report = &mut stale.sources[kind];
            if matches!(report.status, SourceStatus::Ok) {
                report.status = SourceStatus::Stale;
            }
        }
        stale
    }

    /// The response for a caller that asked for `sections`, served from `tier` with data
    /// `age` old, as it goes on the wire: the section chunks as they are, then the reports
    /// and the cache information, encoded for this request.
    pub fn wire(&self, sections: SectionSet, tier: Tier, age: Duration) -> WireProfile {
        let mut out = BytesMut::with_capacity(self.encoded_len() + 256);
        encoding::string::encode(1, &id(self.customer), &mut out);
        for section in sections.iter() {
            if let Some(chunk) = &self.sections[section as usize] {
                out.put_slice(chunk);
            }
        }
        let now = chrono::Utc::now();
        for kind in SourceKind::ALL {
            let report = self.sources.report_for(kind, sections);
            let mut wire = convert::source_report(report);
            wire.age = report
                .fetched_at
                .and_then(|at| (now - at).to_std().ok())
                .map(convert::duration);
            encoding::message::encode(SOURCES_FIELD, &wire, &mut out);
        }
        let cache = pb::CacheInfo {
            served_from: match tier {
                Tier::L1 => pb::CacheTier::L1,
                Tier::L2 => pb::CacheTier::L2,
                Tier::Sources => pb::CacheTier::Sources,
            } as i32,
            age: Some(convert::duration(age)),
        };
        encoding::message::encode(CACHE_FIELD, &cache, &mut out);
        WireProfile(out.freeze())
    }

    /// [`Self::wire`] decoded: what a client sees.
    pub fn response(&self, sections: SectionSet, tier: Tier, age: Duration) -> pb::CustomerProfile {
        pb::CustomerProfile::decode(self.wire(sections, tier, age).0).unwrap_or_else(|error| {
            // Only our own encoder wrote these bytes: this is a bug, not a caller's problem.
            tracing::error!(%error, customer = %self.customer, "cannot decode a cached profile");
            pb::CustomerProfile::default()
        })
    }

    /// The bytes L2 stores: when the backends were read, the fingerprint of the catalog the
    /// orders were enriched from, then the profile's fields.
    pub fn to_l2(&self, loaded_at: Timestamp, catalog: u64) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len() + 160);
        out.put_i64(loaded_at.timestamp_micros());
        out.put_u64(catalog);
        encoding::string::encode(1, &id(self.customer), &mut out);
        for chunk in self.sections.iter().flatten() {
            out.put_slice(chunk);
        }
        for report in self.sources.iter() {
            encoding::message::encode(SOURCES_FIELD, &convert::source_report(*report), &mut out);
        }
        out.freeze()
    }

    /// Reads back what [`Self::to_l2`] wrote: the profile, when its backends were read and the
    /// catalog's fingerprint.
    pub fn from_l2(mut bytes: Bytes) -> Result<(Self, Timestamp, u64), DecodeError> {
        let fail = |what: &str| DecodeError(what.to_owned());
        if bytes.len() < 16 {
            return Err(fail("too short"));
        }
        let loaded_at =
            DateTime::from_timestamp_micros(bytes.get_i64()).ok_or_else(|| fail("bad time"))?;
        let catalog = bytes.get_u64();
        let mut customer = None;
        let mut sections: [Option<Bytes>; 6] = Default::default();
        let mut sources = SourceReports::skipped();
        while bytes.has_remaining() {
            let start = bytes.clone();
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
            let body = bytes.split_to(len);
            let whole = start.slice(..start.len() - bytes.len());
            match field {
                1 => {
                    let text = std::str::from_utf8(&body).map_err(|_| fail("customer id"))?;
                    customer = text.parse().ok();
                }
                SOURCES_FIELD => {
                    let report =
                        pb::SourceReport::decode(body).map_err(|e| fail(&e.to_string()))?;
                    let report =
                        convert::source_report_from(&report).ok_or_else(|| fail("report"))?;
                    sources[report.source] = report;
                }
                other => {
                    let section = Section::ALL
                        .into_iter()
                        .find(|s| field_number(*s) == other)
                        .ok_or_else(|| fail("unknown field"))?;
                    sections[section as usize] = Some(whole);
                }
            }
        }
        let customer = customer.ok_or_else(|| fail("no customer id"))?;
        Ok((
            Self {
                customer,
                sections,
                sources,
            },
            loaded_at,
            catalog,
        ))
    }
}

fn decode_chunk<M: Message + Default>(chunk: &Bytes) -> Option<M> {
    let mut bytes = chunk.clone();
    encoding::decode_key(&mut bytes).ok()?;
    let len = usize::try_from(encoding::decode_varint(&mut bytes).ok()?).ok()?;
    M::decode(bytes.slice(..len.min(bytes.len()))).ok()
}

#[cfg(test)]
mod tests;
