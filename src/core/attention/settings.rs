//! Attention's settings (`[attention]`): the teams' calendars, the service-level target of an
//! open interaction by channel, and when contacts repeat or a rating is low enough to act on.
//! Each rule is checked at start; a bad one is refused by its key.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::calendar::{Calendar, CalendarSettings};
use crate::core::{
    records::{InteractionChannel, InteractionPriority},
    settings::{Check, DAY, MINUTE, SECOND},
};

/// The calendar a target names when it names none.
pub const DEFAULT_CALENDAR: &str = "support";

/// The rules that raise attention items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttentionSettings {
    /// Whether the queue is kept and served (`AttentionService`).
    pub enabled: bool,
    /// The database that holds the queue's tables (`attention_items`, `attention_history`:
    /// migrations `0005`–`0006` on Postgres, `0003`–`0004` on SQLite); CRM's when unset.
    pub database_url: Option<String>,
    /// How long a claim holds unless renewed, when the claim does not say.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Calendars by team name; `support` (Monday to Friday, 08:00–18:00 UTC) unless set.
    pub calendars: BTreeMap<String, CalendarSettings>,
    /// How long an open interaction may wait for an answer, by channel.
    pub targets: Vec<TargetSettings>,
    /// This many contacts within `repeat_within` make a repeat contact.
    pub repeat_contacts: u32,
    /// See `repeat_contacts`.
    #[serde(with = "humantime_serde")]
    pub repeat_within: Duration,
    /// A rating (1–5) at or below this is low.
    pub low_satisfaction: u8,
    /// A low rating is acted on for this long after its interaction last changed.
    #[serde(with = "humantime_serde")]
    pub satisfaction_within: Duration,
}

/// One service-level target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// `ticket`, `email`, `chat` or `call`.
    pub channel: String,
    /// `low`, `normal`, `high` or `urgent`: the target of the channel's interactions of this
    /// priority. Unset: of those its channel has no target of their own for.
    #[serde(default)]
    pub priority: Option<String>,
    /// Business time it may stay open (`8h`, `30m`).
    #[serde(with = "humantime_serde")]
    pub within: Duration,
    /// The team calendar it runs in; `support` when unset.
    #[serde(default)]
    pub calendar: Option<String>,
}

impl Default for AttentionSettings {
    fn default() -> Self {
        let target = |channel: &str, hours: u64| TargetSettings {
            channel: channel.into(),
            priority: None,
            within: Duration::from_secs(hours * 3600),
            calendar: None,
        };
        let support = CalendarSettings {
            time_zone: "UTC".into(),
            hours: vec!["mon-fri 08:00-18:00".into()],
            holidays: Vec::new(),
        };
        Self {
            enabled: true,
            database_url: None,
            lease: Duration::from_secs(300),
            calendars: BTreeMap::from([(DEFAULT_CALENDAR.to_owned(), support)]),
            targets: vec![
                target("chat", 1),
                target("call", 4),
                target("ticket", 8),
                target("email", 24),
            ],
            repeat_contacts: 3,
            repeat_within: Duration::from_secs(7 * 86_400),
            low_satisfaction: 2,
            satisfaction_within: Duration::from_secs(30 * 86_400),
        }
    }
}

impl AttentionSettings {
    /// Refuses every rule that cannot be used, by its key.
    pub fn check(&self, c: &mut Check) {
        c.duration("lease", self.lease, 10 * SECOND, 3600 * SECOND);
        for (name, calendar) in &self.calendars {
            if let Err(error) = Calendar::new(calendar) {
                c.refuse(&format!("calendars.{name}"), &error.entry, error.rule);
            }
        }
        for (i, target) in self.targets.iter().enumerate() {
            let key = |field: &str| format!("targets[{i}].{field}");
            if target.channel.parse::<InteractionChannel>().is_err() {
                let rule = "must be ticket, email, chat or call";
                c.refuse(&key("channel"), &target.channel, rule);
            }
            if let Some(priority) = &target.priority
                && priority.parse::<InteractionPriority>().is_err()
            {
                let rule = "must be low, normal, high or urgent";
                c.refuse(&key("priority"), priority, rule);
            }
            let calendar = target.calendar.as_deref().unwrap_or(DEFAULT_CALENDAR);
            if !self.calendars.contains_key(calendar) {
                let rule = "must name a calendar of [attention.calendars]";
                c.refuse(&key("calendar"), calendar, rule);
            }
            c.duration(&key("within"), target.within, MINUTE, 365 * DAY);
        }
        let mut channels: Vec<_> = self
            .targets
            .iter()
            .map(|t| (&t.channel, &t.priority))
            .collect();
        channels.sort();
        if let Some(twice) = channels.windows(2).find(|w| w[0] == w[1]) {
            let (channel, priority) = twice[0];
            let named = match priority {
                Some(priority) => format!("{channel} {priority}"),
                None => channel.clone(),
            };
            c.refuse(
                "targets",
                &named,
                "must name each channel (and priority) once",
            );
        }
        c.count("repeat_contacts", self.repeat_contacts.into(), 2, 1000);
        c.duration("repeat_within", self.repeat_within, MINUTE, 365 * DAY);
        c.count("low_satisfaction", self.low_satisfaction.into(), 1, 4);
        let within = self.satisfaction_within;
        c.duration("satisfaction_within", within, MINUTE, 365 * DAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(change: impl FnOnce(&mut AttentionSettings)) -> Vec<(String, String)> {
        let mut settings = AttentionSettings::default();
        change(&mut settings);
        let mut check = Check::new();
        settings.check(&mut check);
        match check.finish() {
            Ok(()) => Vec::new(),
            Err(all) => all.0.into_iter().map(|r| (r.key, r.value)).collect(),
        }
    }

    #[test]
    fn the_defaults_hold_and_each_bad_rule_is_refused_by_its_key() {
        assert!(refused(|_| {}).is_empty());
        let key = |change: fn(&mut AttentionSettings)| {
            refused(change)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            key(|s| s.targets[1].channel = "fax".into()),
            ["targets[1].channel"]
        );
        assert_eq!(
            key(|s| s.targets[0].calendar = Some("night".into())),
            ["targets[0].calendar"]
        );
        assert_eq!(
            key(|s| s.targets[2].within = Duration::ZERO),
            ["targets[2].within"]
        );
        assert_eq!(key(|s| s.targets[3].channel = "chat".into()), ["targets"]);
        assert_eq!(key(|s| s.repeat_contacts = 1), ["repeat_contacts"]);
        assert_eq!(key(|s| s.low_satisfaction = 5), ["low_satisfaction"]);
        let bad_hours = refused(|s| {
            let support = s.calendars.get_mut(DEFAULT_CALENDAR).unwrap();
            support.hours = vec!["weekdays 9-5".into()];
        });
        assert_eq!(
            bad_hours,
            [("calendars.support".to_owned(), "weekdays 9-5".to_owned())]
        );
    }
}
