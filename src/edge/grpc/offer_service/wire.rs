//! Offers between the wire and the domain: requests checked field by field, envelopes and
//! offers written out.

use c360_proto as pb;

pub(super) use crate::core::offers::wire::offer;

use crate::{
    core::convert::timestamp,
    core::offers::store::Entry,
    core::offers::wire::{kind_out, money, state_out},
    core::offers::{Allowance, Amount, Envelope, OfferKind, ProblemKind, Refusal},
    core::vocab::{Currency, CustomerId, Money},
    edge::grpc::{
        status::{ApiError, Violation},
        validate::{self, Checked, both},
    },
};

/// The longest problem id taken.
const MAX_PROBLEM: usize = 128;
/// The longest key a caller may give its request.
const MAX_CLIENT_KEY: usize = 64;

/// An offer asked for, checked.
#[derive(Debug, Clone)]
pub(super) struct AskedOffer {
    pub customer: CustomerId,
    pub problem: String,
    pub kind: OfferKind,
    pub amount: Amount,
    pub client_key: Option<String>,
}

fn kind(raw: i32) -> Checked<OfferKind> {
    match pb::OfferKind::try_from(raw) {
        Ok(pb::OfferKind::Refund) => Ok(OfferKind::Refund),
        Ok(pb::OfferKind::FreeShipping) => Ok(OfferKind::FreeShipping),
        Ok(pb::OfferKind::Discount) => Ok(OfferKind::Discount),
        Ok(pb::OfferKind::GoodwillCredit) => Ok(OfferKind::GoodwillCredit),
        _ => Err(vec![Violation::new(
            "kind",
            "must be REFUND, FREE_SHIPPING, DISCOUNT or GOODWILL_CREDIT",
        )]),
    }
}

/// The amount `kind` takes: money for a refund or a credit, a percentage for a discount,
/// nothing for free shipping.
fn amount(kind: OfferKind, money: Option<&pb::Money>, percent: i32) -> Checked<Amount> {
    let refuse = |field: &str, why: &str| Err(vec![Violation::new(field, why)]);
    match kind {
        OfferKind::Refund | OfferKind::GoodwillCredit => {
            let Some(money) = money else {
                return refuse("amount", "is required for a refund or a credit");
            };
            let currency: Currency = match money.currency_code.parse() {
                Ok(currency) => currency,
                Err(_) => return refuse("amount.currency_code", "must be an ISO 4217 code"),
            };
            if money.amount_minor <= 0 {
                return refuse("amount.amount_minor", "must be positive");
            }
            if percent != 0 {
                return refuse("percent", "is for a discount only");
            }
            Ok(Amount::Money(Money::new(currency, money.amount_minor)))
        }
        OfferKind::Discount => match (money, u32::try_from(percent)) {
            (Some(_), _) => refuse("amount", "is for a refund or a credit only"),
            (None, Ok(percent @ 1..=100)) => Ok(Amount::Percent(percent)),
            (None, _) => refuse("percent", "must be from 1 to 100"),
        },
        OfferKind::FreeShipping => match (money, percent) {
            (None, 0) => Ok(Amount::Whole),
            (Some(_), _) => refuse("amount", "free shipping takes no amount"),
            _ => refuse("percent", "free shipping takes no percentage"),
        },
    }
}

fn problem(raw: &str) -> Checked<String> {
    let fits = !raw.is_empty()
        && raw.len() <= MAX_PROBLEM
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/');
    match fits {
        true => Ok(raw.to_owned()),
        false => Err(vec![Violation::new(
            "problem_id",
            "must be a problem id of the envelope, e.g. late_shipment/89",
        )]),
    }
}

/// The caller's key for its request: 1–64 letters, digits, `-` or `_`; none when empty.
fn client_key(raw: &str) -> Checked<Option<String>> {
    if raw.is_empty() {
        return Ok(None);
    }
    let fits = raw.len() <= MAX_CLIENT_KEY
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match fits {
        true => Ok(Some(raw.to_owned())),
        false => Err(vec![Violation::new(
            "request_id",
            "must be 1 to 64 letters, digits, '-' or '_'",
        )]),
    }
}

/// A RecordOffer request, checked: every problem at once.
pub(super) fn asked(request: &pb::RecordOfferRequest) -> Checked<AskedOffer> {
    let customer = validate::key("customer_id", &request.customer_id);
    let what = kind(request.kind).and_then(|kind| {
        Ok((
            kind,
            amount(kind, request.amount.as_ref(), request.percent)?,
        ))
    });
    let (customer, (kind, amount)) = both(customer, what)?;
    let (problem, client_key) = both(
        problem(&request.problem_id),
        client_key(&request.request_id),
    )?;
    Ok(AskedOffer {
        customer,
        problem,
        kind,
        amount,
        client_key,
    })
}

/// An offer's id: 32 hex digits.
pub(super) fn offer_id(raw: &str) -> Checked<String> {
    match raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(raw.to_ascii_lowercase()),
        false => Err(vec![Violation::new(
            "offer_id",
            "must be an offer's id, 32 hex digits",
        )]),
    }
}

fn problem_kind(kind: ProblemKind) -> pb::ProblemKind {
    match kind {
        ProblemKind::LateShipment => pb::ProblemKind::LateShipment,
        ProblemKind::FailedPayment => pb::ProblemKind::FailedPayment,
        ProblemKind::OverdueInteraction => pb::ProblemKind::OverdueInteraction,
        ProblemKind::RepeatContact => pb::ProblemKind::RepeatContact,
        ProblemKind::LowSatisfaction => pb::ProblemKind::LowSatisfaction,
        ProblemKind::OrderLine => pb::ProblemKind::OrderLine,
    }
}

fn allowance(allowance: &Allowance) -> pb::Allowance {
    let money_of = |a: Option<Amount>| a.and_then(Amount::money).map(money);
    let percent_of = |a: Option<Amount>| match a {
        Some(Amount::Percent(p)) => i32::try_from(p).unwrap_or(i32::MAX),
        _ => 0,
    };
    pb::Allowance {
        kind: kind_out(allowance.kind).into(),
        available: allowance.most.is_some(),
        own: allowance.own.is_some(),
        most_money: money_of(allowance.most),
        own_money: money_of(allowance.own),
        most_percent: percent_of(allowance.most),
        own_percent: percent_of(allowance.own),
        says: allowance.says.clone(),
        reasons: allowance.reasons.clone(),
    }
}

/// An envelope, as the wire writes it.
pub(super) fn envelope(envelope: &Envelope) -> pb::OfferEnvelope {
    pb::OfferEnvelope {
        customer_id: envelope.customer.to_string(),
        currency_code: envelope.currency.map(|c| c.to_string()).unwrap_or_default(),
        problems: (envelope.problems.iter())
            .map(|p| pb::ProblemOffers {
                problem_id: p.problem.id.clone(),
                kind: problem_kind(p.problem.kind).into(),
                summary: p.problem.summary.clone(),
                since: p.problem.since.map(timestamp),
                allowances: p.allowances.iter().map(allowance).collect(),
                none: p.none.unwrap_or_default().to_owned(),
            })
            .collect(),
        budget_left: envelope.budget_left.map(money),
        offers_made: envelope.made.iter().map(offer).collect(),
        unknown: envelope.unknown.clone(),
    }
}

/// A ledger entry, as the wire writes it.
pub(super) fn entry(entry: &Entry) -> pb::OfferLedgerEntry {
    pb::OfferLedgerEntry {
        position: entry.position,
        state: state_out(entry.state).into(),
        actor: entry.actor.clone(),
        time: Some(timestamp(entry.at)),
        offer: Some(offer(&entry.offer)),
    }
}

/// A refusal, as the caller is told: a currency the customer does not pay in is a bad
/// argument; the rest are the state of the customer's offers.
pub(super) fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Currency { .. } => Violation::new("amount.currency_code", refusal).into(),
        Refusal::Shape(_) => Violation::new("amount", refusal).into(),
        Refusal::NoProblem { .. } | Refusal::NotFor { .. } | Refusal::Beyond(_) => {
            ApiError::FailedPrecondition(refusal.to_string())
        }
    }
}
