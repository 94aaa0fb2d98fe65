//! The cache entry format: a profile as the caches hold it, each section already encoded as
//! the `CustomerProfile` field it will be on the wire. Protobuf fields concatenate, so the
//! response to any read mask is the chunks it asks for, followed by the reports and the cache
//! information encoded for that request: the hit path re-encodes nothing
//! (docs/architecture.md, "The cache entry"). L2 stores the same chunks (`entry/stored.rs`).
//!
//! What is not a section's own data is kept in the domain's terms beside the bytes: the
//! backends' reports. The rules that change an entry (an older copy standing in for a failed
//! backend, everything served stale) are applied to the reports and to whole sections, never
//! by decoding a section; the insights' `complete` flag follows from the reports whenever an
//! entry is laid out. Sections are decoded only to read them back into the answers they were
//! made of, when the catalog changes (`entry/shown.rs`).

mod chunks;
mod shown;
mod stored;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use c360_proto::{self as pb, WireProfile};
use prost::encoding;

pub use stored::{DecodeError, L2Entry};

use self::chunks::{
    CUSTOMER_FIELD, PAYMENT_METHODS_FIELD, encode_cache_info, encode_reports, fields, offset,
    put_chunk, split_field,
};

use crate::{
    core::convert::{self, id},
    core::profile::Profile,
    core::vocab::{
        CustomerId, Field, FieldSet, Section, SectionSet, SourceReports, SourceSet, Timestamp,
    },
};

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedFrom {
    /// In-process memory.
    L1,
    /// The shared Redis cache.
    L2,
    /// The backends, for this request.
    Sources,
}

/// `Insights.complete = true`: the last field of `Insights`, appended to its fields when every
/// backend answered.
const INSIGHTS_COMPLETE: [u8; 2] = [6 << 3, 1];

/// Each section's message fields, encoded (no field key or length in front; the insights
/// without `complete`), by `Section as usize`; `None` for an absent section.
type Parts = [Option<Bytes>; 6];

/// A profile's sections, encoded, with the reports of its backends, in one buffer laid out as
/// a full read mask sends it: the customer id, the sections, and (when no report is stale) the
/// reports. Sections are ranges of it, so an entry is one allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedProfile {
    customer: CustomerId,
    body: Bytes,
    /// End of the customer id field.
    head: u32,
    /// Each section's chunk (field key, length, fields) in `body`; empty when absent.
    sections: [(u32, u32); 6],
    /// The length of each chunk's field key and length, in front of its fields.
    keys: [u8; 6],
    /// End of the sections: the reports follow, if `reports`.
    sections_end: u32,
    /// Billing's payment methods, a chunk of their own (field key, length, fields) at the end
    /// of billing's, so that a caller denied them is sent billing's chunk without it (a
    /// decoder merges two chunks of one message field into one message); empty without
    /// payment methods.
    payment_methods: (u32, u32),
    /// The length of the payment methods chunk's field key and length.
    payment_methods_key: u8,
    sources: SourceReports,
    /// Whether `body` ends with the reports as a whole profile sends them; not when some are
    /// stale (their age is then encoded per answer).
    reports: bool,
}

impl EncodedProfile {
    /// Encodes every section `profile` has. Shipment delays are computed at `now`.
    pub fn encode(profile: &Profile, now: Timestamp) -> Self {
        let mut parts: Parts = Default::default();
        parts[Section::Identity as usize] = profile
            .identity
            .as_ref()
            .map(|identity| fields(&pb::Identity::from(identity)));
        parts[Section::Billing as usize] = profile
            .billing
            .as_ref()
            .map(|billing| fields(&pb::Billing::from(billing)));
        parts[Section::Orders as usize] = profile.orders.as_ref().map(|orders| {
            let recent = orders.iter().map(Into::into).collect();
            fields(&pb::Orders { recent })
        });
        parts[Section::Shipments as usize] = profile.shipments.as_ref().map(|shipments| {
            let recent = shipments
                .iter()
                .map(|s| convert::shipment(s, now))
                .collect();
            fields(&pb::Shipments { recent })
        });
        parts[Section::Interactions as usize] = profile.interactions.as_ref().map(|interactions| {
            let recent = interactions.iter().map(Into::into).collect();
            fields(&pb::Interactions { recent })
        });
        parts[Section::Insights as usize] = profile
            .insights
            .as_ref()
            .map(|insights| fields(&pb::Insights::from(insights)));
        Self::lay_out(profile.customer, &parts, profile.sources)
    }

    /// Lays the customer id, the sections of `parts` and the reports of healthy backends out
    /// in one buffer.
    fn lay_out(customer: CustomerId, parts: &Parts, sources: SourceReports) -> Self {
        let reports = !sources.has_stale();
        let complete = sources.all_answered();
        let size = parts.iter().flatten().map(|p| p.len() + 8).sum::<usize>() + 16;
        let mut body = BytesMut::with_capacity(size + if reports { 200 } else { 0 });
        encoding::string::encode(CUSTOMER_FIELD, &id(customer), &mut body);
        let head = offset(body.len());
        let (mut ranges, mut keys) = ([(0, 0); 6], [0; 6]);
        let (mut payment_methods, mut payment_methods_key) = ((0, 0), 0);
        for section in Section::ALL {
            let Some(fields) = &parts[section as usize] else {
                continue;
            };
            let suffix: &[u8] = match section {
                Section::Insights if complete => &INSIGHTS_COMPLETE,
                _ => &[],
            };
            let start = body.len();
            let split = match section {
                Section::Billing => split_field(fields, PAYMENT_METHODS_FIELD),
                _ => None,
            };
            let open = split.as_ref().map_or(&fields[..], |(open, _)| &open[..]);
            keys[section as usize] = put_chunk(section, &[open, suffix], &mut body);
            if let Some((_, restricted)) = &split {
                let chunk = body.len();
                payment_methods_key = put_chunk(section, &[restricted], &mut body);
                payment_methods = (offset(chunk), offset(body.len()));
            }
            ranges[section as usize] = (offset(start), offset(body.len()));
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
            keys,
            sections_end,
            payment_methods,
            payment_methods_key,
            sources,
            reports,
        }
    }

    /// The encoded section, as it goes on the wire, if present: without the `hidden` fields.
    fn section(&self, section: Section, hidden: FieldSet) -> Option<Bytes> {
        let (start, mut end) = self.sections[section as usize];
        if section == Section::Billing && self.hides_payment_methods(hidden) {
            end = self.payment_methods.0;
        }
        (start < end).then(|| self.body.slice(start as usize..end as usize))
    }

    /// Whether `hidden` takes anything out of this entry.
    fn hides_payment_methods(&self, hidden: FieldSet) -> bool {
        hidden.contains(Field::PaymentMethods) && self.payment_methods.0 < self.payment_methods.1
    }

    /// The fields of a present section, as [`Parts`] holds them.
    fn fields(&self, section: Section) -> Option<Bytes> {
        let (start, end) = self.sections[section as usize];
        if start >= end {
            return None;
        }
        let suffix = match section {
            Section::Insights if self.sources.all_answered() => INSIGHTS_COMPLETE.len(),
            _ => 0,
        };
        let fields = start as usize + usize::from(self.keys[section as usize]);
        let (chunk, chunk_end) = self.payment_methods;
        if section == Section::Billing && chunk < chunk_end {
            let restricted = chunk as usize + usize::from(self.payment_methods_key);
            let mut joined = BytesMut::with_capacity(end as usize - fields);
            joined.put_slice(&self.body[fields..chunk as usize]);
            joined.put_slice(&self.body[restricted..chunk_end as usize]);
            return Some(joined.freeze());
        }
        Some(self.body.slice(fields..end as usize - suffix))
    }

    /// Every section's fields.
    fn parts(&self) -> Parts {
        Section::ALL.map(|section| self.fields(section))
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

    /// Serve on error: every backend that failed now is stood in for by its last good copy in
    /// `previous`, unless that copy was read before `oldest` (the rule is
    /// [`SourceReports::stand_in`]); its sections come from `previous`, marked `STALE` with
    /// their original read time.
    pub fn carry_stale(&mut self, previous: &EncodedProfile, oldest: Timestamp) {
        let mut sources = self.sources;
        let stood_in = sources.stand_in(&previous.sources, oldest);
        if stood_in == SourceSet::EMPTY {
            return;
        }
        let mut parts = self.parts();
        for kind in stood_in.iter() {
            for section in Section::only_from(kind) {
                parts[*section as usize] = previous.fields(*section);
            }
        }
        // Without the orders backend there are no fresh insights: the last ones stand in,
        // incomplete as the stale reports make them.
        let insights = Section::Insights as usize;
        if parts[insights].is_none() {
            parts[insights] = previous.fields(Section::Insights);
        }
        *self = Self::lay_out(self.customer, &parts, sources);
    }

    /// The same profile with every backend's data marked `STALE`: what is served when no
    /// backend answers now.
    pub fn all_stale(&self) -> Self {
        Self::lay_out(self.customer, &self.parts(), self.sources.all_stale())
    }

    /// The response for a caller that asked for `sections` and may not see the `hidden`
    /// fields, served from `from` with data `age` old, as it goes on the wire: the section
    /// chunks as they are, then the reports and the cache information, encoded for this
    /// request.
    pub fn wire(
        &self,
        sections: SectionSet,
        hidden: FieldSet,
        from: ServedFrom,
        age: Duration,
    ) -> WireProfile {
        let mut parts = Vec::with_capacity(9);
        let whole = sections == SectionSet::ALL && self.reports;
        // What is encoded per request: the cache information (about 15 bytes), and unless the
        // entry's own reports serve, four reports (about 30 bytes each): room for all of it
        // at once, so that the buffer never grows.
        let mut out = BytesMut::with_capacity(if whole { 32 } else { 192 });
        let hide = sections.contains(Section::Billing) && self.hides_payment_methods(hidden);
        if whole {
            // The common case, a whole profile of healthy backends: all but the cache
            // information was encoded when the entry was made (less the hidden chunk).
            if hide {
                let (start, end) = self.payment_methods;
                parts.push(self.body.slice(..start as usize));
                parts.push(self.body.slice(end as usize..));
            } else {
                parts.push(self.body.clone());
            }
        } else {
            if sections == SectionSet::ALL && !hide {
                parts.push(self.body.slice(..self.sections_end as usize));
            } else {
                parts.push(self.body.slice(..self.head as usize));
                parts.extend(sections.iter().filter_map(|s| self.section(s, hidden)));
            }
            encode_reports(&self.sources, sections, Some(chrono::Utc::now()), &mut out);
        }
        encode_cache_info(from, age, &mut out);
        parts.push(out.freeze());
        WireProfile::from_parts(parts)
    }
}

#[cfg(test)]
pub(crate) mod tests;
