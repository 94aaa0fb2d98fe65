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

/// A profile's sections, encoded, with the reports of its backends, in one buffer laid out as
/// a full read mask sends it: the customer id, the sections, and (when no report is stale) the
/// reports. Sections are ranges of it, so an entry is one allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedProfile {
    customer: CustomerId,
    body: Bytes,
    /// End of the customer id field.
    head: u32,
    /// Each section's range of `body`; empty when absent.
    sections: [(u32, u32); 6],
    /// End of the sections: the reports follow, if `reports`.
    sections_end: u32,
    sources: SourceReports,
    /// Whether `body` ends with the reports as a whole profile sends them; not when some are
    /// stale (their age is then encoded per answer).
    reports: bool,
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
        Self::assemble(profile.customer, &sections, profile.sources)
    }

    /// Lays the customer id, `sections` and the reports of healthy backends out in one buffer.
    fn assemble(
        customer: CustomerId,
        sections: &[Option<Bytes>; 6],
        sources: SourceReports,
    ) -> Self {
        let reports = !sources.iter().any(|r| r.status == SourceStatus::Stale);
        let size = sections.iter().flatten().map(Bytes::len).sum::<usize>() + 16;
        let mut body = BytesMut::with_capacity(size + if reports { 200 } else { 0 });
        encoding::string::encode(1, &id(customer), &mut body);
        let head = offset(body.len());
        let mut ranges = [(0, 0); 6];
        for (range, chunk) in ranges.iter_mut().zip(sections) {
            if let Some(chunk) = chunk {
                *range = (offset(body.len()), offset(body.len() + chunk.len()));
                body.put_slice(chunk);
            }
        }
        let sections_end = offset(body.len());
        if reports {
            encode_reports(&sources, SectionSet::ALL, None, &mut body);
        }
        // Exactly sized: this buffer lives as long as the entry.
        let body = Bytes::copy_from_slice(&body);
        Self {
            customer,
            body,
            head,
            sections: ranges,
            sections_end,
            sources,
            reports,
        }
    }

    /// The encoded section, if present.
    fn section(&self, section: Section) -> Option<Bytes> {
        let (start, end) = self.sections[section as usize];
        (start < end).then(|| self.body.slice(start as usize..end as usize))
    }

    /// Every section, as `assemble` takes them.
    fn all_sections(&self) -> [Option<Bytes>; 6] {
        Section::ALL.map(|section| self.section(section))
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
        let (start, end) = self.sections[section as usize];
        start < end
    }

    /// Bytes held: the customer id, the sections and the reports.
    pub fn encoded_len(&self) -> usize {
        self.body.len()
    }

    /// Stands in the last good copy from `previous` for every backend that failed now, marked
    /// `STALE` with its original read time, unless that copy was read before `oldest`.
    pub fn carry_stale(&mut self, previous: &EncodedProfile, oldest: Timestamp) {
        let mut sections = self.all_sections();
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
                sections[*section as usize] = previous.section(*section);
            }
            self.sources[kind].status = SourceStatus::Stale;
            self.sources[kind].fetched_at = before.fetched_at;
            carried = true;
        }
        if !carried {
            return;
        }
        // Without the orders backend there are no fresh insights: the last ones stand in,
        // marked incomplete.
        let insights = Section::Insights as usize;
        if sections[insights].is_none() {
            sections[insights] = previous.section(Section::Insights).and_then(|chunk| {
                let mut insights = decode_chunk::<pb::Insights>(&chunk)?;
                insights.complete = false;
                Some(self::chunk(field_number(Section::Insights), &insights))
            });
        }
        *self = Self::assemble(self.customer, &sections, self.sources);
    }

    /// The same profile with every backend's data marked `STALE`: what is served when no
    /// backend answers now.
    pub fn all_stale(&self) -> Self {
        let mut sources = self.sources;
        for kind in SourceKind::ALL {
            let report = &mut sources[kind];
            if matches!(report.status, SourceStatus::Ok) {
                report.status = SourceStatus::Stale;
            }
        }
        Self::assemble(self.customer, &self.all_sections(), sources)
    }

    /// The response for a caller that asked for `sections`, served from `tier` with data
    /// `age` old, as it goes on the wire: the section chunks as they are, then the reports
    /// and the cache information, encoded for this request.
    pub fn wire(&self, sections: SectionSet, tier: Tier, age: Duration) -> WireProfile {
        let mut parts = Vec::with_capacity(9);
        let mut out = BytesMut::with_capacity(64);
        if sections == SectionSet::ALL && self.reports {
            // The common case, a whole profile of healthy backends: all but the cache
            // information was encoded when the entry was made.
            parts.push(self.body.clone());
        } else {
            if sections == SectionSet::ALL {
                parts.push(self.body.slice(..self.sections_end as usize));
            } else {
                parts.push(self.body.slice(..self.head as usize));
                parts.extend(sections.iter().filter_map(|s| self.section(s)));
            }
            encode_reports(&self.sources, sections, Some(chrono::Utc::now()), &mut out);
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
        parts.push(out.freeze());
        WireProfile::from_parts(parts)
    }

    /// [`Self::wire`] decoded: what a client sees.
    pub fn response(&self, sections: SectionSet, tier: Tier, age: Duration) -> pb::CustomerProfile {
        pb::CustomerProfile::decode(self.wire(sections, tier, age).to_bytes()).unwrap_or_else(|error| {
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
        out.put_slice(&self.body[..self.sections_end as usize]);
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
            Self::assemble(customer, &sections, sources),
            loaded_at,
            catalog,
        ))
    }
}

/// Encodes the reports as a caller that asked for `sections` sees them; with `now`, stale
/// reports carry their age.
fn encode_reports(
    sources: &SourceReports,
    sections: SectionSet,
    now: Option<Timestamp>,
    out: &mut BytesMut,
) {
    for kind in SourceKind::ALL {
        let report = sources.report_for(kind, sections);
        let mut wire = convert::source_report(report);
        if report.status == SourceStatus::Stale {
            wire.age = now
                .zip(report.fetched_at)
                .and_then(|(now, at)| (now - at).to_std().ok())
                .map(convert::duration);
        }
        encoding::message::encode(SOURCES_FIELD, &wire, out);
    }
}

fn offset(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

fn decode_chunk<M: Message + Default>(chunk: &Bytes) -> Option<M> {
    let mut bytes = chunk.clone();
    encoding::decode_key(&mut bytes).ok()?;
    let len = usize::try_from(encoding::decode_varint(&mut bytes).ok()?).ok()?;
    M::decode(bytes.slice(..len.min(bytes.len()))).ok()
}

#[cfg(test)]
mod tests;
