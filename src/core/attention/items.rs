//! A customer's attention items at an instant, from what the backends answered: a parcel past
//! its promise and not delivered, a failed payment not since paid, an interaction open past its
//! service-level target (in its team's business hours), contacts repeating within a period, a
//! low rating on a recent interaction. Each is keyed by (customer, reason, cause), so that
//! deriving again — after a change, a replayed feed or a restart — finds the same item, and
//! each says when it became due, what shows it and what to do (worded as the profile's
//! insights are). With them comes the next instant at which time alone changes the answer, so
//! that a sweep wakes for the earliest such instant instead of scanning every customer.

use std::collections::BTreeMap;

use chrono::Duration;

use super::{
    calendar::Calendar,
    settings::{AttentionSettings, DEFAULT_CALENDAR},
};
use crate::core::{
    profile::wording,
    records::{
        Billing, Interaction, InteractionChannel, InteractionPriority, InvoiceStatus, Shipment,
        Tier,
    },
    settings::{Check, OutOfRanges},
    vocab::{CustomerId, Timestamp},
};

/// Why a customer needs contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A parcel past its promised time, not delivered.
    LateShipment,
    /// A payment that failed and has not been paid since.
    FailedPayment,
    /// An interaction open longer than its channel's service-level target.
    OverdueInteraction,
    /// The customer contacted us again and again within a period.
    RepeatContact,
    /// A low rating on a recent interaction.
    LowSatisfaction,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Self; 5] = [
        Self::LateShipment,
        Self::FailedPayment,
        Self::OverdueInteraction,
        Self::RepeatContact,
        Self::LowSatisfaction,
    ];

    /// Its name, as kept and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LateShipment => "late_shipment",
            Self::FailedPayment => "failed_payment",
            Self::OverdueInteraction => "overdue_interaction",
            Self::RepeatContact => "repeat_contact",
            Self::LowSatisfaction => "low_satisfaction",
        }
    }

    /// The reason named `name` ([`Self::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// What makes an item the same item whenever it is derived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    /// Who.
    pub customer: CustomerId,
    /// Why.
    pub reason: Reason,
    /// Which record: the shipment, the invoice, the interaction; empty for a repeat contact.
    pub cause: String,
}

/// One customer who needs contact, for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Who, why, which record.
    pub key: ItemKey,
    /// When it became due: the queue is ranked by this instant, earliest first.
    pub due: Timestamp,
    /// What shows it.
    pub evidence: String,
    /// What to do about it.
    pub action: String,
}

/// What the items are derived from; `None` for a backend that did not answer, whose
/// reasons are then left as they were.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Fulfilment's recent shipments.
    pub shipments: Option<&'a [Shipment]>,
    /// Billing.
    pub billing: Option<&'a Billing>,
    /// CRM's recent interactions.
    pub interactions: Option<&'a [Interaction]>,
    /// The customer's tier, as CRM knows it.
    pub tier: Option<Tier>,
}

/// A customer's items at an instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// Its items, in no order.
    pub items: Vec<Item>,
    /// The reasons whose backends answered: their items are exactly `items`'; those of the
    /// others are unknown.
    pub known: Vec<Reason>,
    /// The next instant at which time alone changes the items (a parcel's promise passing,
    /// a target falling due, a contact or a rating ageing out); none if nothing pending.
    pub next_change: Option<Timestamp>,
    /// The customer's tier, kept with its items so that the queue can be filtered by it.
    pub tier: Option<Tier>,
}

/// The rules, ready to apply.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Per channel, and priority or any: the target and the calendar it runs in.
    targets: BTreeMap<(&'static str, Option<&'static str>), (Duration, Calendar)>,
    repeat_contacts: usize,
    repeat_within: Duration,
    low_satisfaction: u8,
    satisfaction_within: Duration,
}

impl Rules {
    /// The rules of `settings`, or every rule refused by its key.
    pub fn new(settings: &AttentionSettings) -> Result<Self, OutOfRanges> {
        let mut check = Check::new();
        check.section("attention", |c| settings.check(c));
        check.finish()?;
        let calendar = |name: &str| Calendar::new(&settings.calendars[name]).expect("checked");
        let targets = settings
            .targets
            .iter()
            .map(|target| {
                let channel: InteractionChannel = target.channel.parse().expect("checked");
                let priority = target
                    .priority
                    .as_deref()
                    .map(|p| p.parse::<InteractionPriority>().expect("checked").as_str());
                let name = target.calendar.as_deref().unwrap_or(DEFAULT_CALENDAR);
                let at = (channel.as_str(), priority);
                (at, (duration(target.within), calendar(name)))
            })
            .collect();
        Ok(Self {
            targets,
            repeat_contacts: settings.repeat_contacts as usize,
            repeat_within: duration(settings.repeat_within),
            low_satisfaction: settings.low_satisfaction,
            satisfaction_within: duration(settings.satisfaction_within),
        })
    }

    /// The target of an interaction on `channel` of `priority`, and its calendar: the one
    /// for that priority, else the channel's own.
    fn target(
        &self,
        channel: InteractionChannel,
        priority: InteractionPriority,
    ) -> Option<&(Duration, Calendar)> {
        let channel = channel.as_str();
        self.targets
            .get(&(channel, Some(priority.as_str())))
            .or_else(|| self.targets.get(&(channel, None)))
    }

    /// How many contacts within how long make a repeat contact.
    pub fn repeat(&self) -> (usize, Duration) {
        (self.repeat_contacts, self.repeat_within)
    }

    /// The highest rating that is low, and for how long after it one is followed up.
    pub fn low_rating(&self) -> (u8, Duration) {
        (self.low_satisfaction, self.satisfaction_within)
    }
}

fn duration(std: std::time::Duration) -> Duration {
    Duration::from_std(std).unwrap_or(Duration::MAX)
}

/// `customer`'s items at `now`.
pub fn derive(customer: CustomerId, inputs: Inputs<'_>, rules: &Rules, now: Timestamp) -> Derived {
    let mut derived = Derived {
        tier: inputs.tier,
        ..Derived::default()
    };
    let mut found = Found {
        customer,
        now,
        derived: &mut derived,
    };
    if let Some(shipments) = inputs.shipments {
        found.late_shipments(shipments);
    }
    if let Some(billing) = inputs.billing {
        found.failed_payments(billing);
    }
    if let Some(interactions) = inputs.interactions {
        found.overdue(interactions, rules);
        found.repeat_contact(interactions, rules);
        found.low_satisfaction(interactions, rules);
    }
    derived
}

/// Items as they are found, and the earliest change ahead.
struct Found<'a> {
    customer: CustomerId,
    now: Timestamp,
    derived: &'a mut Derived,
}

impl Found<'_> {
    fn item(
        &mut self,
        reason: Reason,
        cause: String,
        due: Timestamp,
        evidence: String,
        action: String,
    ) {
        let key = ItemKey {
            customer: self.customer,
            reason,
            cause,
        };
        self.derived.items.push(Item {
            key,
            due,
            evidence,
            action,
        });
    }

    /// Time alone changes the items at `at`, if that is ahead.
    fn changes_at(&mut self, at: Timestamp) {
        if at > self.now {
            let next = &mut self.derived.next_change;
            *next = Some(next.map_or(at, |next| next.min(at)));
        }
    }

    fn late_shipments(&mut self, shipments: &[Shipment]) {
        self.derived.known.push(Reason::LateShipment);
        for shipment in shipments.iter().filter(|s| s.delivered_at.is_none()) {
            match shipment.delay(self.now) {
                Some(delay) => self.item(
                    Reason::LateShipment,
                    shipment.id.to_string(),
                    shipment.promised_at,
                    wording::late_shipment(shipment, delay),
                    wording::late_shipment_action(shipment, delay),
                ),
                None => self.changes_at(shipment.promised_at),
            }
        }
    }

    fn failed_payments(&mut self, billing: &Billing) {
        self.derived.known.push(Reason::FailedPayment);
        for failed in &billing.failed_payments {
            let paid_since = billing.recent_invoices.iter().any(|invoice| {
                invoice.id == failed.invoice_id
                    && (invoice.status == InvoiceStatus::Paid
                        || invoice.paid_at.is_some_and(|paid| paid > failed.failed_at))
            });
            if !paid_since {
                self.item(
                    Reason::FailedPayment,
                    failed.invoice_id.to_string(),
                    failed.failed_at,
                    wording::failed_payment(failed),
                    wording::failed_payment_action(failed),
                );
            }
        }
    }

    fn overdue(&mut self, interactions: &[Interaction], rules: &Rules) {
        self.derived.known.push(Reason::OverdueInteraction);
        for open in interactions.iter().filter(|i| i.status.is_open()) {
            let Some((target, calendar)) = rules.target(open.channel, open.priority) else {
                continue;
            };
            let Some(due) = calendar.due(open.created_at, *target) else {
                continue;
            };
            if due > self.now {
                self.changes_at(due);
                continue;
            }
            let age = self.now - open.created_at;
            self.item(
                Reason::OverdueInteraction,
                open.id.to_string(),
                due,
                wording::open_interaction(open, age),
                wording::follow_up(open, age),
            );
        }
    }

    fn repeat_contact(&mut self, interactions: &[Interaction], rules: &Rules) {
        self.derived.known.push(Reason::RepeatContact);
        let since = self.now - rules.repeat_within;
        let mut recent: Vec<&Interaction> = interactions
            .iter()
            .filter(|i| i.created_at > since && i.created_at <= self.now)
            .collect();
        if recent.len() < rules.repeat_contacts {
            return;
        }
        recent.sort_by_key(|i| i.created_at);
        // Due when the contact that made it a repeat came; gone once the first of those
        // within the period ages out (unless more came since).
        let made_it = recent[recent.len() - rules.repeat_contacts];
        let latest = recent[recent.len() - 1];
        self.changes_at(made_it.created_at + rules.repeat_within);
        self.item(
            Reason::RepeatContact,
            String::new(),
            latest.created_at,
            format!(
                "{} contacts within {}, the latest \"{}\" ({} {})",
                recent.len(),
                wording::days(rules.repeat_within),
                latest.subject,
                latest.channel,
                latest.id
            ),
            format!(
                "Contacted us {} times within {}: call back and settle what keeps bringing them",
                recent.len(),
                wording::days(rules.repeat_within)
            ),
        );
    }

    fn low_satisfaction(&mut self, interactions: &[Interaction], rules: &Rules) {
        self.derived.known.push(Reason::LowSatisfaction);
        let low = interactions
            .iter()
            .filter(|i| i.csat.is_some_and(|c| c <= rules.low_satisfaction));
        for rated in low {
            let until = rated.updated_at + rules.satisfaction_within;
            if until <= self.now {
                continue;
            }
            self.changes_at(until);
            self.item(
                Reason::LowSatisfaction,
                rated.id.to_string(),
                rated.updated_at,
                format!(
                    "Rated {}/5 on {} {} \"{}\"",
                    rated.csat.unwrap_or_default(),
                    rated.channel,
                    rated.id,
                    rated.subject
                ),
                wording::low_rating_action(rated),
            );
        }
    }
}

#[cfg(test)]
mod tests;
