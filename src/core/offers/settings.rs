//! Offers' settings (`[offers]`): what each role may give without a supervisor's approval, and
//! what an agent may give in a day at most. Money is in minor units of a currency, per currency
//! (a limit in pounds says nothing of rupees, and c360 converts nothing); a currency a role has
//! no limit in is one its callers may give no money in without approval, and none beyond
//! their budget. Every limit is checked at start and refused by its key.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::core::{
    settings::{Check, DAY},
    vocab::Currency,
};

/// The most any money limit may be, in minor units: ten million of a currency's units.
pub const MOST_MINOR: i64 = 1_000_000_000;

/// Offers: who may give what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferSettings {
    /// Whether offers are served (`OfferService`).
    pub enabled: bool,
    /// The database that holds the offers' ledger (`offers`, `offer_ledger`: migration
    /// `0009` on Postgres, `0007` on SQLite); CRM's when unset.
    pub database_url: Option<String>,
    /// The span `refund_per_customer_minor` counts a customer's refunds over.
    #[serde(with = "humantime_serde")]
    pub refund_period: Duration,
    /// The role whose limits apply to callers while authentication is off.
    pub unauthenticated_role: String,
    /// Role name (a role of `[auth.roles]`) → its limits. A caller holding several roles has
    /// the most generous of each limit.
    pub roles: BTreeMap<String, OfferLimits>,
}

/// What one role may give; nothing unless set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferLimits {
    /// The most a customer may be refunded within `refund_period` without approval, by
    /// currency, in minor units (`{ GBP = 10000 }` is 100.00 GBP).
    pub refund_per_customer_minor: BTreeMap<String, i64>,
    /// The largest discount on a customer's next order, in percent, without approval.
    pub max_discount_percent: u32,
    /// Whether free shipping on the next order may be given without approval.
    pub free_shipping: bool,
    /// The largest goodwill credit for one problem without approval, by currency, in minor
    /// units.
    pub goodwill_credit_minor: BTreeMap<String, i64>,
    /// What one agent may give in a UTC day, in all (refunds and credits, awaiting approval or
    /// not), by currency, in minor units. Beyond it an offer is refused, not sent for approval.
    pub daily_budget_minor: BTreeMap<String, i64>,
}

/// The same amount in each of the reference data's currencies.
fn each_currency(minor: i64) -> BTreeMap<String, i64> {
    ["EUR", "GBP", "USD"]
        .into_iter()
        .map(|currency| (currency.to_owned(), minor))
        .collect()
}

impl Default for OfferSettings {
    fn default() -> Self {
        let agent = OfferLimits {
            refund_per_customer_minor: each_currency(10_000),
            max_discount_percent: 25,
            free_shipping: true,
            goodwill_credit_minor: each_currency(2_000),
            daily_budget_minor: each_currency(50_000),
        };
        let supervisor = OfferLimits {
            refund_per_customer_minor: each_currency(50_000),
            max_discount_percent: 50,
            free_shipping: true,
            goodwill_credit_minor: each_currency(10_000),
            daily_budget_minor: each_currency(500_000),
        };
        Self {
            enabled: true,
            database_url: None,
            refund_period: 30 * DAY,
            unauthenticated_role: "agent".into(),
            roles: BTreeMap::from([
                ("agent".to_owned(), agent),
                ("supervisor".to_owned(), supervisor),
            ]),
        }
    }
}

impl OfferSettings {
    /// Refuses every limit that cannot be used, by its key. Whether the roles exist is
    /// checked against `[auth.roles]` by [`OfferSettings::check_roles`].
    pub fn check(&self, c: &mut Check) {
        c.duration("refund_period", self.refund_period, DAY, 366 * DAY);
        for (role, limits) in &self.roles {
            c.section(&format!("roles.{role}"), |c| limits.check(c));
        }
    }

    /// Refuses a role named here that `[auth.roles]` (`known`) does not configure.
    pub fn check_roles(&self, c: &mut Check, known: impl Fn(&str) -> bool) {
        let rule = "must name a role of [auth.roles]";
        for role in self.roles.keys().filter(|role| !known(role)) {
            c.refuse(&format!("roles.{role}"), role, rule);
        }
        if !known(&self.unauthenticated_role) {
            c.refuse("unauthenticated_role", &self.unauthenticated_role, rule);
        }
    }
}

impl OfferLimits {
    fn check(&self, c: &mut Check) {
        c.count(
            "max_discount_percent",
            u64::from(self.max_discount_percent),
            0,
            100,
        );
        let maps = [
            ("refund_per_customer_minor", &self.refund_per_customer_minor),
            ("goodwill_credit_minor", &self.goodwill_credit_minor),
            ("daily_budget_minor", &self.daily_budget_minor),
        ];
        for (key, map) in maps {
            for (currency, &minor) in map {
                let key = format!("{key}.{currency}");
                if currency.parse::<Currency>().is_err() {
                    c.refuse(&key, currency, "must be keyed by a 3-letter ISO 4217 code");
                } else if !(0..=MOST_MINOR).contains(&minor) {
                    c.refuse(
                        &key,
                        minor,
                        format!("must be from 0 to {MOST_MINOR} minor units"),
                    );
                }
            }
        }
    }
}

/// The limits a caller has in one currency: the most generous of its roles'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Refunds to one customer within the period, without approval (minor units).
    pub refund_per_customer: i64,
    /// Discount without approval, in percent.
    pub discount_percent: u32,
    /// Free shipping without approval.
    pub free_shipping: bool,
    /// Goodwill credit for one problem without approval (minor units).
    pub goodwill_credit: i64,
    /// What the agent may give in a day (minor units).
    pub daily_budget: i64,
}

/// The limits of every role, read once at start.
#[derive(Debug, Clone, Default)]
pub struct OfferRules {
    roles: BTreeMap<String, OfferLimits>,
    /// See [`OfferSettings::refund_period`].
    pub refund_period: Duration,
    /// See [`OfferSettings::unauthenticated_role`].
    pub unauthenticated_role: String,
}

impl OfferRules {
    /// The rules `settings` (checked) describe.
    pub fn new(settings: &OfferSettings) -> Self {
        Self {
            roles: settings.roles.clone(),
            refund_period: settings.refund_period,
            unauthenticated_role: settings.unauthenticated_role.clone(),
        }
    }

    /// What a caller of `roles` may give in `currency`; nothing for roles without limits.
    pub fn limits<S: AsRef<str>>(&self, roles: &[S], currency: Currency) -> Limits {
        let of = |map: &BTreeMap<String, i64>| map.get(currency.as_str()).copied().unwrap_or(0);
        roles
            .iter()
            .filter_map(|role| self.roles.get(role.as_ref()))
            .fold(Limits::default(), |most, role| Limits {
                refund_per_customer: most
                    .refund_per_customer
                    .max(of(&role.refund_per_customer_minor)),
                discount_percent: most.discount_percent.max(role.max_discount_percent),
                free_shipping: most.free_shipping || role.free_shipping,
                goodwill_credit: most.goodwill_credit.max(of(&role.goodwill_credit_minor)),
                daily_budget: most.daily_budget.max(of(&role.daily_budget_minor)),
            })
    }

    /// The most any role may give without approval in `currency`: what a supervisor can
    /// approve at most, for the offers given once per problem.
    pub fn top(&self, currency: Currency) -> Limits {
        let every: Vec<&str> = self.roles.keys().map(String::as_str).collect();
        self.limits(&every, currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(settings: &OfferSettings) -> Vec<String> {
        let mut c = Check::new();
        c.section("offers", |c| settings.check(c));
        match c.finish() {
            Ok(()) => Vec::new(),
            Err(all) => all.0.into_iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn the_defaults_hold_and_give_agents_25_percent_and_supervisors_more() {
        let settings = OfferSettings::default();
        assert!(refused(&settings).is_empty());
        let rules = OfferRules::new(&settings);
        let gbp: Currency = "GBP".parse().unwrap();
        let agent = rules.limits(&["agent"], gbp);
        assert_eq!(agent.discount_percent, 25);
        assert_eq!(agent.refund_per_customer, 10_000);
        let both = rules.limits(&["agent", "supervisor"], gbp);
        assert_eq!(both, rules.limits(&["supervisor"], gbp));
        assert!(both.refund_per_customer > agent.refund_per_customer);
        assert_eq!(rules.limits(&["chatbot"], gbp), Limits::default());
        assert_eq!(
            rules
                .limits(&["agent"], "INR".parse().unwrap())
                .daily_budget,
            0
        );
    }

    #[test]
    fn a_bad_limit_is_refused_by_its_key() {
        let mut settings = OfferSettings::default();
        let agent = settings.roles.get_mut("agent").unwrap();
        agent.max_discount_percent = 120;
        agent.daily_budget_minor.insert("POUNDS".into(), 10);
        agent.goodwill_credit_minor.insert("GBP".into(), -1);
        settings.refund_period = Duration::from_secs(60);
        let refused = refused(&settings);
        let keys = [
            "offers.refund_period",
            "offers.roles.agent.max_discount_percent",
            "offers.roles.agent.goodwill_credit_minor.GBP",
            "offers.roles.agent.daily_budget_minor.POUNDS",
        ];
        assert_eq!(refused.len(), keys.len(), "{refused:?}");
        for key in keys {
            assert!(
                refused.iter().any(|r| r.contains(&format!("`{key}`"))),
                "{key}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_role_auth_does_not_know_is_refused() {
        let settings = OfferSettings {
            unauthenticated_role: "nobody".into(),
            ..OfferSettings::default()
        };
        let mut c = Check::new();
        c.section("offers", |c| {
            settings.check_roles(c, |role| role == "agent")
        });
        let refused = c.finish().unwrap_err().to_string();
        assert!(refused.contains("`offers.roles.supervisor`"), "{refused}");
        assert!(
            refused.contains("`offers.unauthenticated_role`"),
            "{refused}"
        );
    }
}
