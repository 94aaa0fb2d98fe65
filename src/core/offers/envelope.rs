//! The envelope: for each open problem of a customer, the offers this caller may make now and
//! up to how much, each with every factor weighed and the one that limits it; and the judgment
//! of an offer asked for against it. Which offers settle which problem is a table
//! ([`REMEDIES`]); the amounts come from the problem itself (a line's price less what was
//! refunded), the offers already made (each once-only offer once per problem), the caller's
//! role (beyond its limits, a supervisor approves) and the caller's budget for the day
//! (beyond it, refused).

mod allowance;

use chrono::Duration;

use self::allowance::allowance;

use super::{
    Amount, Offer, OfferKind,
    problems::{Facts, Problem, ProblemKind},
    settings::Limits,
};
use crate::core::vocab::{Currency, CustomerId, Money, Timestamp};

/// Which offers settle a kind of problem, or why none does.
struct Remedy {
    problem: ProblemKind,
    offers: &'static [OfferKind],
    none: &'static str,
}

/// The rules, as data.
const REMEDIES: &[Remedy] = {
    use OfferKind::{Discount, FreeShipping, GoodwillCredit, Refund};
    &[
        Remedy {
            problem: ProblemKind::LateShipment,
            offers: &[FreeShipping, Discount, GoodwillCredit],
            none: "",
        },
        Remedy {
            problem: ProblemKind::FailedPayment,
            offers: &[],
            none: "a failed payment is settled by a working payment method, not compensated",
        },
        Remedy {
            problem: ProblemKind::OverdueInteraction,
            offers: &[Discount, GoodwillCredit],
            none: "",
        },
        Remedy {
            problem: ProblemKind::RepeatContact,
            offers: &[Discount, GoodwillCredit],
            none: "",
        },
        Remedy {
            problem: ProblemKind::LowSatisfaction,
            offers: &[Discount, GoodwillCredit],
            none: "",
        },
        Remedy {
            problem: ProblemKind::OrderLine,
            offers: &[Refund],
            none: "",
        },
    ]
};

fn remedy(kind: ProblemKind) -> &'static Remedy {
    REMEDIES
        .iter()
        .find(|remedy| remedy.problem == kind)
        .expect("every kind of problem has its row")
}

/// What an envelope is computed with, beside the problems.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The caller's limits, in the customer's currency.
    pub limits: Limits,
    /// The most any role may give without approval: the most a supervisor may approve.
    pub top: Limits,
    /// The offers made to the customer that count (not rejected).
    pub made: &'a [Offer],
    /// What the caller gave today, in the customer's currency (offers that count).
    pub spent_today: i64,
    /// The span a role's refund limit counts a customer's refunds over.
    pub refund_period: Duration,
    /// Now.
    pub now: Timestamp,
}

/// One offer a problem admits, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// What.
    pub kind: OfferKind,
    /// The most that may be offered now, with a supervisor's approval above `own`; `None`:
    /// nothing may be.
    pub most: Option<Amount>,
    /// The most the caller may offer on its own; `None`: any offer needs approval.
    pub own: Option<Amount>,
    /// One line: what may be offered, and what limits it.
    pub says: String,
    /// Every factor weighed.
    pub reasons: Vec<String>,
}

/// A problem and the offers it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemOffers {
    /// The problem.
    pub problem: Problem,
    /// Its offers; none for a problem no offer settles.
    pub allowances: Vec<Allowance>,
    /// Why no offer settles it, when none does.
    pub none: Option<&'static str>,
}

/// What the caller may offer the customer now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Who.
    pub customer: CustomerId,
    /// The customer's currency, if known.
    pub currency: Option<Currency>,
    /// Each open problem, with its offers.
    pub problems: Vec<ProblemOffers>,
    /// What the caller may still give today, in the customer's currency.
    pub budget_left: Option<Money>,
    /// The offers already made to the customer that count.
    pub made: Vec<Offer>,
    /// What could not be judged, because a backend did not answer.
    pub unknown: Vec<String>,
}

/// Why an offer asked for is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The customer has no such open problem.
    #[error("customer {customer} has no open problem {problem}")]
    NoProblem {
        /// Who.
        customer: CustomerId,
        /// The problem asked for.
        problem: String,
    },
    /// The problem admits no such offer.
    #[error("{problem} admits no {kind}: {why}")]
    NotFor {
        /// The problem.
        problem: String,
        /// The offer's kind.
        kind: &'static str,
        /// What it admits.
        why: String,
    },
    /// Money in a currency the customer does not pay in.
    #[error("the customer pays in {customer}, not {asked}")]
    Currency {
        /// The customer's.
        customer: String,
        /// The offer's.
        asked: Currency,
    },
    /// The amount does not fit the offer (money for a discount, a percentage for a refund).
    #[error("{0}")]
    Shape(String),
    /// More than the envelope holds, or nothing left to give.
    #[error("{0}")]
    Beyond(String),
}

/// How an offer asked for stands against the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Within the caller's limits: recorded.
    Within,
    /// Beyond the caller's limits but within the envelope: recorded awaiting approval, why.
    Approval(String),
    /// Refused.
    Refused(Refusal),
}

impl Envelope {
    /// The envelope of `facts` for the caller `context` describes.
    pub fn new(facts: &Facts, context: &Context<'_>) -> Self {
        let budget_left = facts.currency.map(|currency| {
            let left = (context.limits.daily_budget - context.spent_today).max(0);
            Money::new(currency, left)
        });
        let problems = facts
            .problems
            .iter()
            .map(|problem| {
                let remedy = remedy(problem.kind);
                ProblemOffers {
                    problem: problem.clone(),
                    allowances: (remedy.offers.iter())
                        .map(|kind| allowance(*kind, problem, facts.currency, budget_left, context))
                        .collect(),
                    none: remedy.offers.is_empty().then_some(remedy.none),
                }
            })
            .collect();
        Self {
            customer: facts.customer,
            currency: facts.currency,
            problems,
            budget_left,
            made: context.made.to_vec(),
            unknown: facts.unknown.clone(),
        }
    }

    /// How `asked` of `kind` for `problem` stands.
    pub fn judge(&self, problem: &str, kind: OfferKind, asked: Amount) -> Verdict {
        let Some(found) = self.problems.iter().find(|p| p.problem.id == problem) else {
            return Verdict::Refused(Refusal::NoProblem {
                customer: self.customer,
                problem: problem.to_owned(),
            });
        };
        let Some(allowance) = found.allowances.iter().find(|a| a.kind == kind) else {
            let admits: Vec<&str> = found.allowances.iter().map(|a| a.kind.named()).collect();
            let why = match found.none {
                Some(none) => none.to_owned(),
                None => format!("it admits {}", admits.join(", ")),
            };
            return Verdict::Refused(Refusal::NotFor {
                problem: problem.to_owned(),
                kind: kind.named(),
                why,
            });
        };
        if let Err(refused) = fits(kind, asked, self.currency) {
            return Verdict::Refused(refused);
        }
        let Some(most) = allowance.most else {
            return Verdict::Refused(Refusal::Beyond(allowance.says.clone()));
        };
        if exceeds(asked, most) {
            let beyond = format!("{} asked is beyond the envelope: {}", asked, allowance.says);
            return Verdict::Refused(Refusal::Beyond(beyond));
        }
        match allowance.own {
            Some(own) if !exceeds(asked, own) => Verdict::Within,
            _ => Verdict::Approval(allowance.says.clone()),
        }
    }
}

/// Whether `asked` suits `kind`, in `currency`.
fn fits(kind: OfferKind, asked: Amount, currency: Option<Currency>) -> Result<(), Refusal> {
    match (kind, asked) {
        (OfferKind::Refund | OfferKind::GoodwillCredit, Amount::Money(money)) => match currency {
            Some(currency) if currency != money.currency => Err(Refusal::Currency {
                customer: currency.to_string(),
                asked: money.currency,
            }),
            None => Err(Refusal::Currency {
                customer: "an unknown currency (billing and orders did not answer)".into(),
                asked: money.currency,
            }),
            Some(_) if money.minor <= 0 => {
                Err(Refusal::Shape("the amount must be positive".into()))
            }
            Some(_) => Ok(()),
        },
        (OfferKind::Discount, Amount::Percent(percent)) if (1..=100).contains(&percent) => Ok(()),
        (OfferKind::FreeShipping, Amount::Whole) => Ok(()),
        (kind, _) => Err(Refusal::Shape(format!(
            "a {} takes {}",
            kind.named(),
            match kind {
                OfferKind::Refund | OfferKind::GoodwillCredit => "an amount of money",
                OfferKind::Discount => "a percentage from 1 to 100",
                OfferKind::FreeShipping => "no amount",
            }
        ))),
    }
}

/// Whether `asked` is more than `bound` (both of one shape, as `fits` made sure).
fn exceeds(asked: Amount, bound: Amount) -> bool {
    match (asked, bound) {
        (Amount::Money(asked), Amount::Money(bound)) => asked.minor > bound.minor,
        (Amount::Percent(asked), Amount::Percent(bound)) => asked > bound,
        (Amount::Whole, Amount::Whole) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests;
