//! Business hours: a team's calendar (a time zone, working intervals per weekday, holidays)
//! and the arithmetic of service-level clocks over it, to the second. A target of "8 business
//! hours" from a message sent on a Friday at 16:55 is due at a real instant — Monday morning,
//! minutes after opening — and the queue ranks by that instant, never by counting days.
//!
//! Intervals are local wall-clock times, so they follow the zone's daylight-saving changes: a
//! local time that does not exist (the hour skipped in spring) is no time at all, and one
//! that happens twice (the hour repeated in autumn) is counted twice, as it is lived. The
//! timeline is walked in steps over which the zone's offset is constant (a change is found
//! by bisection), so each step maps wall-clock boundaries to instants exactly.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Minutes in a day: an interval may end at `24:00`.
const DAY: u32 = 24 * 60;

/// Working time within a day: from and to, in minutes after local midnight.
type Interval = (u32, u32);

/// How far ahead a boundary is looked for before the walk takes a step anyway: short enough
/// that no zone changes its offset twice within one step.
const LONGEST_STEP: Duration = Duration::hours(20);

/// A calendar as configured: `hours` such as `"mon-fri 09:00-17:00"`, `"sat 10:00-12:00,
/// 13:00-16:00"` or `"sun 00:00-24:00"`, and holidays as dates (`2026-12-25`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarSettings {
    /// An IANA time zone: `Europe/Berlin`.
    pub time_zone: String,
    /// Working intervals by weekday; none: every minute of every day.
    pub hours: Vec<String>,
    /// Days on which no interval counts.
    pub holidays: Vec<NaiveDate>,
}

/// Why a calendar was refused: the entry and what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {rule}")]
pub struct CalendarError {
    /// The entry, as written.
    pub entry: String,
    /// What it must be.
    pub rule: String,
}

/// A team's business hours, ready for arithmetic.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Tz,
    /// Per weekday from Monday: working intervals in local minutes of the day, sorted,
    /// merged, `[start, end)`.
    week: [Vec<Interval>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// The calendar of `settings`, or what is wrong with it.
    pub fn new(settings: &CalendarSettings) -> Result<Self, CalendarError> {
        let refuse = |entry: &str, rule: &str| CalendarError {
            entry: entry.to_owned(),
            rule: rule.to_owned(),
        };
        let zone: Tz = settings.time_zone.parse().map_err(|_| {
            refuse(
                &settings.time_zone,
                "must be an IANA time zone, e.g. Europe/Berlin",
            )
        })?;
        let mut week: [Vec<Interval>; 7] = Default::default();
        if settings.hours.is_empty() {
            week.iter_mut().for_each(|day| day.push((0, DAY)));
        }
        for entry in &settings.hours {
            let (days, intervals) = parse_hours(entry).ok_or_else(|| {
                refuse(
                    entry,
                    "must be days and intervals, e.g. \"mon-fri 09:00-12:00,13:00-17:00\"",
                )
            })?;
            for day in days {
                week[day].extend(&intervals);
            }
        }
        for day in &mut week {
            *day = merged(std::mem::take(day));
        }
        Ok(Self {
            zone,
            week,
            holidays: settings.holidays.iter().copied().collect(),
        })
    }

    /// The instant at which `target` of business time has passed since `start` (`start`
    /// itself for no time). A calendar with no working time at all never gets there: `None`,
    /// as for a target beyond what the calendar can reach within ten years.
    pub fn due(&self, start: DateTime<Utc>, target: Duration) -> Option<DateTime<Utc>> {
        let mut left = target;
        let give_up = start + Duration::days(3653);
        let mut at = start;
        while at < give_up {
            if left <= Duration::zero() {
                return Some(at);
            }
            let (working, until) = self.step(at);
            let span = until - at;
            if working && span >= left {
                return Some(at + left);
            }
            if working {
                left -= span;
            }
            at = until;
        }
        None
    }

    /// The business time between `from` and `to` (none if `to` is not later).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        let mut at = from;
        while at < to {
            let (working, until) = self.step(at);
            let until = until.min(to);
            if working {
                total += until - at;
            }
            at = until;
        }
        total
    }

    /// Whether `at` is working time, and until when that holds at least (the next boundary,
    /// the next change of the zone's offset, or a step's length, whichever is first).
    fn step(&self, at: DateTime<Utc>) -> (bool, DateTime<Utc>) {
        let offset = self.offset(at);
        let local = at.naive_utc() + offset;
        let (working, boundary) = self.wall_step(local);
        // While the offset holds, a wall-clock boundary is that instant exactly.
        let mut until = (boundary - offset).and_utc().min(at + LONGEST_STEP);
        if self.offset(until) != offset {
            until = self.offset_change(at, until, offset);
        }
        (working, until)
    }

    /// The first instant after `from` at which the offset is no longer `offset`, knowing it
    /// is not at `to`: zones change on whole seconds, so it is found among them.
    fn offset_change(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offset: Duration,
    ) -> DateTime<Utc> {
        let second = |s: i64| DateTime::from_timestamp(s, 0).expect("within chrono's range");
        let (mut before, mut after) = (from.timestamp(), to.timestamp());
        if to.timestamp_subsec_nanos() > 0 {
            after += 1;
        }
        while after - before > 1 {
            let middle = before + (after - before) / 2;
            if self.offset(second(middle)) == offset {
                before = middle;
            } else {
                after = middle;
            }
        }
        second(after)
    }

    fn offset(&self, at: DateTime<Utc>) -> Duration {
        let offset = self.zone.offset_from_utc_datetime(&at.naive_utc()).fix();
        Duration::seconds(offset.local_minus_utc().into())
    }

    /// Whether the wall-clock time `local` is working time, and the next wall-clock time at
    /// which that changes (or the end of the day).
    fn wall_step(&self, local: NaiveDateTime) -> (bool, NaiveDateTime) {
        let date = local.date();
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        let minute = (local - midnight).num_seconds();
        let at_minute = |m: u32| midnight + Duration::minutes(m.into());
        let intervals: &[Interval] = match self.holidays.contains(&date) {
            true => &[],
            false => &self.week[date.weekday().num_days_from_monday() as usize],
        };
        for &(start, end) in intervals {
            if minute < i64::from(start) * 60 {
                return (false, at_minute(start));
            }
            if minute < i64::from(end) * 60 {
                return (true, at_minute(end));
            }
        }
        (false, at_minute(DAY))
    }
}

/// `"mon-fri 09:00-17:00,18:00-20:00"`: the weekdays (Monday 0) and the intervals in minutes.
fn parse_hours(entry: &str) -> Option<(Vec<usize>, Vec<Interval>)> {
    let (days, intervals) = entry.trim().split_once(char::is_whitespace)?;
    let days = parse_days(days)?;
    let intervals = intervals
        .split(',')
        .map(|interval| {
            let (start, end) = interval.trim().split_once('-')?;
            let (start, end) = (parse_clock(start)?, parse_clock(end)?);
            (start < end).then_some((start, end))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((days, intervals))
}

/// `mon`, `mon-fri`, `sat,sun`, or `fri-mon` (round the weekend).
fn parse_days(days: &str) -> Option<Vec<usize>> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |name: &str| {
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name.trim()))
    };
    let mut chosen = Vec::new();
    for part in days.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (day(first)?, day(last)?);
                let count = (last + 7 - first) % 7 + 1;
                chosen.extend((0..count).map(|n| (first + n) % 7));
            }
            None => chosen.push(day(part)?),
        }
    }
    Some(chosen)
}

/// `HH:MM`, up to `24:00`, in minutes.
fn parse_clock(clock: &str) -> Option<u32> {
    let (hours, minutes) = clock.trim().split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= DAY).then_some(total)
}

/// `intervals` sorted, with overlapping and touching ones joined.
fn merged(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort_unstable();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
