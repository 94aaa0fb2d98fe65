//! Attention items between the wire and the queue: requests' keys, filters, leases, outcomes
//! and page tokens checked; kept items shown as the API's.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use c360_proto as pb;

use crate::{
    core::{
        attention::{Filter, ItemKey, Kept, Position, Reason},
        convert::timestamp,
        records::Tier,
        vocab::{CustomerId, Timestamp},
    },
    edge::grpc::{
        status::Violation,
        validate::{self, Checked},
    },
};

/// The shortest lease a claim may ask for.
const MIN_LEASE: Duration = Duration::from_secs(10);
/// The longest.
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// Most items on one page.
pub(super) const MAX_PAGE: i32 = 1000;
/// Items on a page when the caller does not say.
const DEFAULT_PAGE: i32 = 100;

fn reason_to_wire(reason: Reason) -> pb::AttentionReason {
    match reason {
        Reason::LateShipment => pb::AttentionReason::LateShipment,
        Reason::FailedPayment => pb::AttentionReason::FailedPayment,
        Reason::OverdueInteraction => pb::AttentionReason::OverdueInteraction,
        Reason::RepeatContact => pb::AttentionReason::RepeatContact,
        Reason::LowSatisfaction => pb::AttentionReason::LowSatisfaction,
    }
}

fn reason(field: &str, raw: i32) -> Checked<Reason> {
    let reason = match pb::AttentionReason::try_from(raw) {
        Ok(pb::AttentionReason::LateShipment) => Some(Reason::LateShipment),
        Ok(pb::AttentionReason::FailedPayment) => Some(Reason::FailedPayment),
        Ok(pb::AttentionReason::OverdueInteraction) => Some(Reason::OverdueInteraction),
        Ok(pb::AttentionReason::RepeatContact) => Some(Reason::RepeatContact),
        Ok(pb::AttentionReason::LowSatisfaction) => Some(Reason::LowSatisfaction),
        Ok(pb::AttentionReason::Unspecified) | Err(_) => None,
    };
    reason.ok_or_else(|| vec![Violation::new(field, format!("{raw} is not a reason"))])
}

/// The item `key` names.
pub(super) fn key(key: Option<&pb::AttentionItemKey>) -> Checked<ItemKey> {
    let Some(key) = key else {
        return Err(vec![Violation::new("key", "is required")]);
    };
    let (customer, reason) = validate::both(
        validate::key::<CustomerId>("key.customer_id", &key.customer_id),
        reason("key.reason", key.reason),
    )?;
    if key.cause.len() > 128 {
        return Err(vec![Violation::new(
            "key.cause",
            "is longer than 128 bytes",
        )]);
    }
    Ok(ItemKey {
        customer,
        reason,
        cause: key.cause.clone(),
    })
}

/// The filter asked for.
pub(super) fn filter(filter: Option<&pb::AttentionFilter>) -> Checked<Filter> {
    let Some(filter) = filter else {
        return Ok(Filter::default());
    };
    let mut violations = Vec::new();
    let mut reasons = Vec::new();
    for (i, &raw) in filter.reasons.iter().enumerate() {
        match reason(&format!("filter.reasons[{i}]"), raw) {
            Ok(reason) => reasons.push(reason),
            Err(more) => violations.extend(more),
        }
    }
    let mut tiers = Vec::new();
    for (i, &raw) in filter.tiers.iter().enumerate() {
        match pb::CustomerTier::try_from(raw)
            .ok()
            .and_then(|t| Tier::try_from(t).ok())
        {
            Some(tier) => tiers.push(tier),
            None => violations.push(Violation::new(
                format!("filter.tiers[{i}]"),
                format!("{raw} is not a tier"),
            )),
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    reasons.sort();
    reasons.dedup();
    tiers.sort_by_key(|tier| tier.as_str());
    tiers.dedup();
    Ok(Filter {
        reasons,
        tiers,
        claimed: filter.claimed,
    })
}

/// The lease asked for, or `default`.
pub(super) fn lease(asked: Option<&prost_types::Duration>, default: Duration) -> Checked<Duration> {
    let Some(asked) = asked else {
        return Ok(default);
    };
    let lease = Duration::try_from(*asked)
        .ok()
        .filter(|lease| (MIN_LEASE..=MAX_LEASE).contains(lease));
    lease.ok_or_else(|| vec![Violation::new("lease", "must be from 10 s to 1 h")])
}

/// The outcome recorded, as kept.
pub(super) fn outcome(raw: i32) -> Checked<&'static str> {
    match pb::AttentionOutcome::try_from(raw) {
        Ok(pb::AttentionOutcome::Contacted) => Ok("contacted"),
        Ok(pb::AttentionOutcome::OfferMade) => Ok("offer_made"),
        Ok(pb::AttentionOutcome::NoAction) => Ok("no_action"),
        _ => Err(vec![Violation::new(
            "outcome",
            "must be CONTACTED, OFFER_MADE or NO_ACTION",
        )]),
    }
}

fn outcome_to_wire(kept: Option<&str>) -> pb::AttentionOutcome {
    match kept {
        Some("contacted") => pb::AttentionOutcome::Contacted,
        Some("offer_made") => pb::AttentionOutcome::OfferMade,
        Some("no_action") => pb::AttentionOutcome::NoAction,
        _ => pb::AttentionOutcome::Unspecified,
    }
}

/// The page size asked for.
pub(super) fn page_size(asked: i32) -> Checked<i64> {
    match asked {
        0 => Ok(DEFAULT_PAGE.into()),
        1..=MAX_PAGE => Ok(asked.into()),
        _ => Err(vec![Violation::new("page_size", "must be from 0 to 1000")]),
    }
}

/// What a page token binds to: the filter it was made under.
fn fingerprint(filter: &Filter) -> String {
    let reasons: Vec<&str> = filter.reasons.iter().map(|r| r.as_str()).collect();
    let tiers: Vec<&str> = filter.tiers.iter().map(|t| t.as_str()).collect();
    format!(
        "{}|{}|{:?}",
        reasons.join(","),
        tiers.join(","),
        filter.claimed
    )
}

/// A token that goes on after `last` under `filter`.
pub(super) fn page_token(last: &Kept, filter: &Filter) -> String {
    let text = format!(
        "{}\n{}\n{}\n{}\n{}",
        fingerprint(filter),
        last.due_us,
        last.customer_id,
        last.reason,
        last.cause
    );
    URL_SAFE_NO_PAD.encode(text)
}

/// Where the page of `token` begins; none for the first page.
pub(super) fn position(token: &str, filter: &Filter) -> Checked<Option<Position>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        vec![Violation::new(
            "page_token",
            "is not a token this list gave, with this filter",
        )]
    };
    let text = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    let mut parts = text.splitn(5, '\n');
    let (Some(bound), Some(due), Some(customer), Some(reason), Some(cause)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    if bound != fingerprint(filter) || Reason::parse(reason).is_none() {
        return Err(invalid());
    }
    Ok(Some(Position {
        due_us: due.parse().map_err(|_| invalid())?,
        customer_id: customer.parse().map_err(|_| invalid())?,
        reason: reason.to_owned(),
        cause: cause.to_owned(),
    }))
}

fn micros(us: i64) -> Timestamp {
    Timestamp::from_timestamp_micros(us).unwrap_or_default()
}

/// `kept` as the API shows it at `now`.
pub(super) fn item(kept: &Kept, now: Timestamp) -> pb::AttentionItem {
    let due = micros(kept.due_us);
    let overdue = now - due;
    let held = kept.held(now);
    let state = match kept.state.as_str() {
        "open" => pb::AttentionState::Open,
        "cleared" => pb::AttentionState::Cleared,
        "resolved" => pb::AttentionState::Resolved,
        _ => pb::AttentionState::Unspecified,
    };
    pb::AttentionItem {
        customer_id: kept.customer_id.to_string(),
        reason: Reason::parse(&kept.reason)
            .map_or(pb::AttentionReason::Unspecified, reason_to_wire)
            .into(),
        cause: kept.cause.clone(),
        state: state.into(),
        due_time: Some(timestamp(due)),
        overdue: Some(prost_types::Duration {
            seconds: overdue.num_seconds(),
            nanos: overdue.subsec_nanos(),
        }),
        evidence: kept.evidence.clone(),
        next_action: kept.action.clone(),
        tier: kept
            .tier
            .parse::<Tier>()
            .map_or(pb::CustomerTier::Unspecified, pb::CustomerTier::from)
            .into(),
        claimed_by: match held {
            true => kept.claimed_by.clone().unwrap_or_default(),
            false => String::new(),
        },
        lease_expire_time: kept
            .lease_until_us
            .filter(|_| held)
            .map(|us| timestamp(micros(us))),
        version: kept.version,
        outcome: outcome_to_wire(kept.outcome.as_deref()).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(cause: &str) -> Kept {
        Kept {
            customer_id: 7,
            reason: "late_shipment".into(),
            cause: cause.into(),
            state: "open".into(),
            due_us: 1_700_000_000_000_000,
            evidence: String::new(),
            action: String::new(),
            claimed_by: None,
            lease_until_us: None,
            version: 0,
            outcome: None,
            tier: "gold".into(),
        }
    }

    #[test]
    fn a_page_token_gives_back_its_place_under_its_own_filter_only() {
        let filter = Filter {
            reasons: vec![Reason::LateShipment],
            ..Filter::default()
        };
        let last = kept("S-1\nodd:cause");
        let token = page_token(&last, &filter);
        assert_eq!(
            position(&token, &filter).unwrap(),
            Some(Position::of(&last))
        );
        assert!(position(&token, &Filter::default()).is_err());
        assert!(position("not a token", &filter).is_err());
        assert_eq!(position("", &filter).unwrap(), None);
    }

    #[test]
    fn an_item_shows_a_lapsed_lease_as_unclaimed_and_how_overdue_it_is() {
        let mut held = kept("S-1");
        held.claimed_by = Some("jwt:alice".into());
        held.lease_until_us = Some(held.due_us + 60_000_000);
        let at = |us| micros(held.due_us + us);
        let during = item(&held, at(30_000_000));
        assert_eq!(during.claimed_by, "jwt:alice");
        assert_eq!(during.overdue.unwrap().seconds, 30);
        assert_eq!(during.tier, pb::CustomerTier::Gold as i32);
        let after = item(&held, at(60_000_000));
        assert!(after.claimed_by.is_empty() && after.lease_expire_time.is_none());
        let before = item(&held, at(-90_000_000));
        assert_eq!(before.overdue.unwrap().seconds, -90);
    }
}
