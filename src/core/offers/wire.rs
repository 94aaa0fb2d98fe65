//! Offers as the wire writes them: in `OfferService`'s answers, and in a profile's insights.
//! A profile's insights are cached with the profile; the offers made are not (they change
//! apart from the backends), so they travel as a second `insights` field of their own, which
//! a protobuf reader merges into the first (a message field that comes twice is merged, its
//! repeated fields concatenated).

use bytes::Bytes;
use c360_proto as pb;
use prost::Message;

use super::{Amount, Offer, OfferKind, OfferState};
use crate::core::{convert::timestamp, vocab::Money};

/// Money, as the wire writes it.
pub fn money(money: Money) -> pb::Money {
    pb::Money {
        currency_code: money.currency.to_string(),
        amount_minor: money.minor,
    }
}

/// An offer's kind, as the wire writes it.
pub fn kind_out(kind: OfferKind) -> pb::OfferKind {
    match kind {
        OfferKind::Refund => pb::OfferKind::Refund,
        OfferKind::FreeShipping => pb::OfferKind::FreeShipping,
        OfferKind::Discount => pb::OfferKind::Discount,
        OfferKind::GoodwillCredit => pb::OfferKind::GoodwillCredit,
    }
}

/// An offer's state, as the wire writes it.
pub fn state_out(state: OfferState) -> pb::OfferState {
    match state {
        OfferState::Recorded => pb::OfferState::Recorded,
        OfferState::AwaitingApproval => pb::OfferState::AwaitingApproval,
        OfferState::Approved => pb::OfferState::Approved,
        OfferState::Rejected => pb::OfferState::Rejected,
    }
}

/// An offer, as the wire writes it.
pub fn offer(offer: &Offer) -> pb::Offer {
    let (amount, percent) = match offer.amount {
        Amount::Money(m) => (Some(money(m)), 0),
        Amount::Percent(p) => (None, i32::try_from(p).unwrap_or(i32::MAX)),
        Amount::Whole => (None, 0),
    };
    pb::Offer {
        offer_id: offer.id.clone(),
        customer_id: offer.customer.to_string(),
        problem_id: offer.problem.clone(),
        kind: kind_out(offer.kind).into(),
        amount,
        percent,
        state: state_out(offer.state).into(),
        agent: offer.agent.clone(),
        request_id: offer.request_id.clone(),
        record_time: Some(timestamp(offer.recorded_at)),
        settled_by: offer.settled_by.clone().unwrap_or_default(),
        settle_time: offer.settled_at.map(timestamp),
        position: offer.position,
    }
}

/// `offers` as a profile's `insights` field holding only them: what is appended to a cached
/// profile's bytes for a caller that reads the insights.
pub fn insights_chunk(offers: &[Offer]) -> Bytes {
    let chunk = pb::CustomerProfile {
        insights: Some(pb::Insights {
            offers_made: offers.iter().map(offer).collect(),
            ..pb::Insights::default()
        }),
        ..pb::CustomerProfile::default()
    };
    Bytes::from(chunk.encode_to_vec())
}
