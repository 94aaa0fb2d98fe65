//! `c360 offers`: what the caller may offer a customer now, problem by problem, with why; an
//! offer recorded; one approved or rejected. Amounts are written as people write them
//! (`12.50 GBP`) and sent in minor units.

use c360_proto::{self as pb, offer_service_client::OfferServiceClient};

use super::{ClientError, Format, Server, channel, json, render::money, request, verbose};

/// What to do with a customer's offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferAct {
    /// Print the envelope.
    Envelope,
    /// Record an offer.
    Record {
        /// The problem, as the envelope names it.
        problem: String,
        /// `refund`, `free_shipping`, `discount` or `goodwill_credit`.
        kind: String,
        /// `12.50 GBP`, for a refund or a credit.
        amount: Option<String>,
        /// For a discount.
        percent: Option<u32>,
        /// The caller's key for the request, so that a retry finds its offer.
        request_id: Option<String>,
    },
}

/// The kind named `name`.
fn kind(name: &str) -> Result<pb::OfferKind, ClientError> {
    match name {
        "refund" => Ok(pb::OfferKind::Refund),
        "free_shipping" | "free-shipping" => Ok(pb::OfferKind::FreeShipping),
        "discount" => Ok(pb::OfferKind::Discount),
        "goodwill_credit" | "goodwill-credit" | "credit" => Ok(pb::OfferKind::GoodwillCredit),
        other => Err(ClientError::Usage(format!(
            "--kind {other}: must be refund, free_shipping, discount or goodwill_credit"
        ))),
    }
}

/// `12.50 GBP` (or `12 GBP`, `0.5 EUR`) in minor units, without floating point.
pub fn parse_amount(text: &str) -> Result<pb::Money, ClientError> {
    let bad = || {
        ClientError::Usage(format!(
            "--amount {text:?}: write it as an amount and a currency, e.g. \"12.50 GBP\""
        ))
    };
    let (number, currency) = text.trim().split_once(' ').ok_or_else(bad)?;
    let currency = currency.trim();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let (units, cents) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(units) || !digits(cents) || cents.len() > 2 {
        return Err(bad());
    }
    let cents = if cents.len() == 1 {
        format!("{cents}0")
    } else {
        cents.to_owned()
    };
    let minor = units
        .parse::<i64>()
        .ok()
        .and_then(|u| u.checked_mul(100)?.checked_add(cents.parse().ok()?))
        .ok_or_else(bad)?;
    Ok(pb::Money {
        currency_code: currency.to_ascii_uppercase(),
        amount_minor: minor,
    })
}

/// Runs `act` for customer `id`.
pub async fn offers(
    server: &Server,
    id: &str,
    act: OfferAct,
    format: Format,
) -> Result<String, ClientError> {
    match act {
        OfferAct::Envelope => {
            let message = pb::GetOfferEnvelopeRequest {
                customer_id: id.to_owned(),
            };
            let answer = server
                .within(async {
                    let mut client = OfferServiceClient::new(channel(server).await?);
                    let answer = client.get_offer_envelope(request(server, message)).await;
                    verbose::answered(server, answer)
                })
                .await?;
            match format {
                Format::Json => json(&answer, "customer360.v1.OfferEnvelope"),
                Format::Text => Ok(envelope(&answer)),
            }
        }
        OfferAct::Record {
            problem,
            kind: named,
            amount,
            percent,
            request_id,
        } => {
            let message = pb::RecordOfferRequest {
                customer_id: id.to_owned(),
                problem_id: problem,
                kind: kind(&named)?.into(),
                amount: amount.as_deref().map(parse_amount).transpose()?,
                percent: percent.map_or(0, |p| i32::try_from(p).unwrap_or(i32::MAX)),
                request_id: request_id.unwrap_or_default(),
            };
            let answer = server
                .within(async {
                    let mut client = OfferServiceClient::new(channel(server).await?);
                    verbose::answered(server, client.record_offer(request(server, message)).await)
                })
                .await?;
            match format {
                Format::Json => json(&answer, "customer360.v1.Offer"),
                Format::Text => Ok(format!("{}\n", made(&answer))),
            }
        }
    }
}

/// Approves (`approve`) or rejects an offer awaiting approval.
pub async fn settle(
    server: &Server,
    offer_id: &str,
    approve: bool,
    format: Format,
) -> Result<String, ClientError> {
    let offer_id = offer_id.to_owned();
    let answer = server
        .within(async {
            let mut client = OfferServiceClient::new(channel(server).await?);
            let answer = match approve {
                true => {
                    let message = pb::ApproveOfferRequest { offer_id };
                    client.approve_offer(request(server, message)).await
                }
                false => {
                    let message = pb::RejectOfferRequest { offer_id };
                    client.reject_offer(request(server, message)).await
                }
            };
            verbose::answered(server, answer)
        })
        .await?;
    match format {
        Format::Json => json(&answer, "customer360.v1.Offer"),
        Format::Text => Ok(format!("{}\n", made(&answer))),
    }
}

fn kind_name(kind: pb::OfferKind) -> &'static str {
    match kind {
        pb::OfferKind::Refund => "refund",
        pb::OfferKind::FreeShipping => "free shipping",
        pb::OfferKind::Discount => "discount",
        pb::OfferKind::GoodwillCredit => "goodwill credit",
        pb::OfferKind::Unspecified => "?",
    }
}

fn state_name(state: pb::OfferState) -> &'static str {
    match state {
        pb::OfferState::Recorded => "recorded",
        pb::OfferState::AwaitingApproval => "awaiting approval",
        pb::OfferState::Approved => "approved",
        pb::OfferState::Rejected => "rejected",
        pb::OfferState::Unspecified => "?",
    }
}

/// How much of an offer the caller may give: on its own, with approval, or none.
fn verdict(a: &pb::Allowance) -> String {
    let amount = |cash: Option<&pb::Money>, percent: i32| match (cash, percent) {
        (Some(m), _) => money(Some(m)),
        (None, p) if p > 0 => format!("{p} %"),
        _ => String::new(),
    };
    let (own, most) = (
        amount(a.own_money.as_ref(), a.own_percent),
        amount(a.most_money.as_ref(), a.most_percent),
    );
    match (a.available, a.own) {
        (false, _) => "no".into(),
        (true, true) if own.is_empty() => "yes".into(),
        (true, true) => format!("up to {own}"),
        (true, false) if most.is_empty() => "with approval".into(),
        (true, false) => format!("approval, up to {most}"),
    }
}

/// An offer, on one line.
pub(super) fn made(offer: &pb::Offer) -> String {
    let how_much = match (&offer.amount, offer.percent) {
        (Some(m), _) => format!(" {}", money(Some(m))),
        (None, p) if p > 0 => format!(" {p} %"),
        _ => String::new(),
    };
    let settled = match offer.settled_by.is_empty() {
        true => String::new(),
        false => format!(", by {}", offer.settled_by),
    };
    format!(
        "{}{how_much} for {}: {}{settled} · made by {} · offer {}",
        kind_name(offer.kind()),
        offer.problem_id,
        state_name(offer.state()),
        offer.agent,
        offer.offer_id
    )
}

/// The envelope, problem by problem.
fn envelope(envelope: &pb::OfferEnvelope) -> String {
    let currency = match envelope.currency_code.is_empty() {
        true => "an unknown currency".to_owned(),
        false => envelope.currency_code.clone(),
    };
    let mut text = format!(
        "Customer {} pays in {currency}; your budget today: {} left\n",
        envelope.customer_id,
        money(envelope.budget_left.as_ref())
    );
    if envelope.problems.is_empty() {
        text.push_str("\nNo open problem: nothing to offer for.\n");
    }
    for problem in &envelope.problems {
        text.push_str(&format!("\n{}  {}\n", problem.problem_id, problem.summary));
        if !problem.none.is_empty() {
            text.push_str(&format!("  no offer: {}\n", problem.none));
        }
        for a in &problem.allowances {
            text.push_str(&format!(
                "  {:<16} {:<26} {}\n",
                kind_name(a.kind()),
                verdict(a),
                a.says
            ));
        }
    }
    if !envelope.offers_made.is_empty() {
        text.push_str("\nOffers made:\n");
        for offer in &envelope.offers_made {
            text.push_str(&format!("  {}\n", made(offer)));
        }
    }
    for unknown in &envelope.unknown {
        text.push_str(&format!("\nNot known now: {unknown}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_to_the_cent_without_floating_point() {
        let minor = |text| parse_amount(text).map(|m| (m.amount_minor, m.currency_code));
        assert_eq!(minor("12.50 GBP").unwrap(), (1250, "GBP".into()));
        assert_eq!(minor("12.5 gbp").unwrap(), (1250, "GBP".into()));
        assert_eq!(minor("7 EUR").unwrap(), (700, "EUR".into()));
        assert_eq!(minor("0.07 USD").unwrap(), (7, "USD".into()));
        for bad in [
            "12.505 GBP",
            "12,50 GBP",
            "-1 GBP",
            "12.50",
            "12.50 POUNDS",
            "1e3 EUR",
            "",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }
}
