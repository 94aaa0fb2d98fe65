use chrono::{NaiveTime, Timelike};
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

use super::*;

fn calendar(zone: &str, hours: &[&str], holidays: &[&str]) -> Calendar {
    Calendar::new(&CalendarSettings {
        time_zone: zone.into(),
        hours: hours.iter().map(|h| h.to_string()).collect(),
        holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
    })
    .expect("a valid calendar")
}

/// The instant at local wall-clock time `local` (unambiguous) in `zone`.
fn at(zone: &str, local: &str) -> DateTime<Utc> {
    let zone: Tz = zone.parse().unwrap();
    let local: NaiveDateTime = local.parse().unwrap();
    zone.from_local_datetime(&local)
        .single()
        .expect("an unambiguous local time")
        .with_timezone(&Utc)
}

#[test]
fn a_friday_message_near_closing_is_due_on_monday_not_in_days() {
    let team = calendar("Europe/Berlin", &["mon-fri 09:00-17:00"], &[]);
    let sent = at("Europe/Berlin", "2026-12-04T16:55:00");
    // Five minutes on Friday, seven hours fifty-five on Monday.
    let due = team.due(sent, Duration::hours(8)).unwrap();
    assert_eq!(due, at("Europe/Berlin", "2026-12-07T16:55:00"));
    // Monday at 10:00 it has 6 h 55 min left, wherever the weekend went.
    let now = at("Europe/Berlin", "2026-12-07T10:00:00");
    assert_eq!(team.between(now, due), Duration::minutes(415));
    assert_eq!(team.between(sent, now), Duration::minutes(65));
    // Nothing is due before it starts, and nothing takes no time.
    assert_eq!(team.due(sent, Duration::zero()), Some(sent));
    assert_eq!(team.between(due, sent), Duration::zero());
}

#[test]
fn holidays_and_split_days_are_skipped_and_seconds_kept() {
    let team = calendar(
        "Asia/Kolkata",
        &["mon-fri 09:00-12:30,13:30-18:00", "sat 10:00-13:00"],
        &["2026-12-25"],
    );
    // Thursday 24 December at 17:59:30, two hours: 30 s on Thursday, Christmas skipped,
    // Saturday 10:00 to 11:59:30.
    let sent = at("Asia/Kolkata", "2026-12-24T17:59:30");
    let due = team.due(sent, Duration::hours(2)).unwrap();
    assert_eq!(due, at("Asia/Kolkata", "2026-12-26T11:59:30"));
    // Lunch is not counted.
    let morning = at("Asia/Kolkata", "2026-12-28T12:00:00");
    let afternoon = at("Asia/Kolkata", "2026-12-28T14:00:00");
    assert_eq!(team.between(morning, afternoon), Duration::minutes(60));
}

#[test]
fn daylight_saving_changes_take_or_give_the_hour_they_take_or_give() {
    let always = calendar("America/New_York", &[], &[]);
    // Spring forward: Sunday 8 March 2026 has 23 hours; autumn's Sunday 1 November has 25.
    let day = |from: &str, to: &str| {
        always.between(at("America/New_York", from), at("America/New_York", to))
    };
    assert_eq!(
        day("2026-03-08T00:00:00", "2026-03-09T00:00:00"),
        Duration::hours(23)
    );
    assert_eq!(
        day("2026-11-01T00:00:00", "2026-11-02T00:00:00"),
        Duration::hours(25)
    );
    // A night shift over the skipped hour loses it; over the repeated one works it twice.
    let night = calendar("America/New_York", &["sun 01:00-04:00"], &[]);
    let spring = night.between(
        at("America/New_York", "2026-03-08T00:00:00"),
        at("America/New_York", "2026-03-09T00:00:00"),
    );
    assert_eq!(spring, Duration::hours(2));
    let autumn = night.between(
        at("America/New_York", "2026-11-01T00:00:00"),
        at("America/New_York", "2026-11-02T00:00:00"),
    );
    assert_eq!(autumn, Duration::hours(4));
}

#[test]
fn a_calendar_with_no_working_time_never_comes_due() {
    let closed = calendar("Europe/Berlin", &["mon 09:00-10:00"], &[]);
    let monday = at("Europe/Berlin", "2026-12-07T09:00:00");
    assert!(closed.due(monday, Duration::minutes(30)).is_some());
    let holidays: Vec<String> = (0..3660)
        .map(|d| (monday.date_naive() + Duration::days(d)).to_string())
        .collect();
    let holidays: Vec<&str> = holidays.iter().map(String::as_str).collect();
    let never = calendar("Europe/Berlin", &["mon 09:00-10:00"], &holidays);
    assert_eq!(never.due(monday, Duration::minutes(30)), None);
}

#[test]
fn bad_calendars_are_refused_naming_the_entry() {
    let refused = |zone: &str, hours: &[&str]| {
        Calendar::new(&CalendarSettings {
            time_zone: zone.into(),
            hours: hours.iter().map(|h| h.to_string()).collect(),
            holidays: Vec::new(),
        })
        .expect_err("refused")
    };
    assert_eq!(refused("Mars/Olympus", &[]).entry, "Mars/Olympus");
    for bad in [
        "mon-fri",
        "mon-fri 9:00-17:00",
        "mon-fri 17:00-09:00",
        "mon-fri 09:00-24:01",
        "mon-fri 09:60-10:00",
        "monday 09:00-17:00",
        "mon-fri 09:00-17:00,",
    ] {
        let error = refused("UTC", &[bad]);
        assert_eq!(error.entry, bad);
        assert!(error.rule.contains("mon-fri 09:00"), "{error}");
    }
    // Round the weekend, and touching intervals joined.
    let late = calendar("UTC", &["fri-mon 20:00-22:00", "fri-mon 22:00-24:00"], &[]);
    assert_eq!(late.week[4], [(1200, 1440)]);
    assert_eq!(late.week[0], [(1200, 1440)]);
    assert!(late.week[1].is_empty());
}

/// Whether the minute starting at `minute` is working time, read from the calendar's
/// configuration alone: its local date, weekday and time of day.
fn working_minute(calendar: &Calendar, minute: DateTime<Utc>) -> bool {
    let local = minute.with_timezone(&calendar.zone).naive_local();
    if calendar.holidays.contains(&local.date()) {
        return false;
    }
    let of_day = local.time().num_seconds_from_midnight() / 60;
    calendar.week[local.weekday().num_days_from_monday() as usize]
        .iter()
        .any(|&(start, end)| start <= of_day && of_day < end)
}

/// The due instant found minute by minute: the end of the `target`th working minute.
fn due_by_minutes(calendar: &Calendar, start: DateTime<Utc>, target: i64) -> DateTime<Utc> {
    let (mut minute, mut counted) = (start, 0);
    while counted < target {
        if working_minute(calendar, minute) {
            counted += 1;
        }
        minute += Duration::minutes(1);
    }
    minute
}

/// A random calendar whose every weekday has working time (so that a case ends soon), with
/// intervals anywhere in the day, the small hours of daylight-saving changes included.
fn random_calendar(rng: &mut Xoshiro256PlusPlus, zone: &str, near: NaiveDate) -> Calendar {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let clock = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    let hours: Vec<String> = DAYS
        .iter()
        .map(|day| {
            let intervals: Vec<String> = (0..rng.random_range(1..=3))
                .map(|_| {
                    let start = rng.random_range(0..DAY - 60);
                    let end = rng.random_range(start + 60..=DAY.min(start + 600));
                    format!("{}-{}", clock(start), clock(end))
                })
                .collect();
            format!("{day} {}", intervals.join(","))
        })
        .collect();
    let holidays = (0..rng.random_range(0..=2))
        .map(|_| near + Duration::days(rng.random_range(-1..=4)))
        .collect();
    Calendar::new(&CalendarSettings {
        time_zone: zone.into(),
        hours,
        holidays,
    })
    .expect("a valid random calendar")
}

/// ≥ 10,000 random cases in three zones — New York and Lord Howe change their clocks (Lord
/// Howe by half an hour), Kolkata never does — half of them starting within days of a change,
/// with holidays: the due instant and the time between agree with a minute-by-minute walk.
#[test]
fn due_and_between_agree_with_a_walk_minute_by_minute() {
    // The 2026 changes: New York 8 March and 1 November, Lord Howe 5 April and 4 October.
    let zones: [(&str, &[&str]); 3] = [
        ("America/New_York", &["2026-03-08", "2026-11-01"]),
        ("Australia/Lord_Howe", &["2026-04-05", "2026-10-04"]),
        ("Asia/Kolkata", &["2026-06-01"]),
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xC360_CA1E);
    let year = at("UTC", "2026-01-01T00:00:00");
    for case in 0..10_000 {
        let (zone, changes) = zones[case % zones.len()];
        let start = match case % 2 {
            0 => {
                let change: NaiveDate =
                    changes[rng.random_range(0..changes.len())].parse().unwrap();
                let midnight = change.and_time(NaiveTime::MIN).and_utc();
                midnight + Duration::minutes(rng.random_range(-3 * 1440..2 * 1440))
            }
            _ => year + Duration::minutes(rng.random_range(0..365 * 1440)),
        };
        let team = random_calendar(&mut rng, zone, start.date_naive());
        let target = rng.random_range(0..=600);
        let expected = due_by_minutes(&team, start, target);
        let due = team.due(start, Duration::minutes(target));
        assert_eq!(
            due,
            Some(expected),
            "case {case}: {zone}, {target} min from {start}, {:?}, holidays {:?}",
            team.week,
            team.holidays
        );
        assert_eq!(
            team.between(start, expected),
            Duration::minutes(target),
            "case {case}: between"
        );
        // And any span, counted.
        let end = start + Duration::minutes(rng.random_range(0..2 * 1440));
        let mut counted = 0;
        let mut minute = start;
        while minute < end {
            counted += i64::from(working_minute(&team, minute));
            minute += Duration::minutes(1);
        }
        assert_eq!(
            team.between(start, end),
            Duration::minutes(counted),
            "case {case}: between {start} and {end} in {zone}"
        );
    }
}
