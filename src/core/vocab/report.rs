//! How each backend answered for a profile, and the rule for standing in an older copy when
//! one fails.

use std::time::Duration;

use super::{PerSource, SectionSet, SourceKind, SourceSet, Timestamp};

/// How a backend answered for this profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// Answered.
    Ok,
    /// Did not answer; an older copy is served.
    Stale,
    /// Did not answer in time.
    Timeout,
    /// Failed.
    Unavailable,
    /// Not asked: its circuit is open after failures in a row.
    CircuitOpen,
    /// Not asked: not needed.
    Skipped,
}

impl SourceStatus {
    /// Asked, and gave nothing now.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Timeout | Self::Unavailable | Self::CircuitOpen)
    }

    /// There is data from this backend to serve, fresh or stale.
    pub fn has_data(self) -> bool {
        matches!(self, Self::Ok | Self::Stale)
    }
}

/// What happened to one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceReport {
    /// How it went.
    pub status: SourceStatus,
    /// When the data served was read.
    pub fetched_at: Option<Timestamp>,
    /// How long the read took.
    pub latency: Option<Duration>,
}

impl SourceReport {
    /// The report of a backend that was not asked.
    pub const SKIPPED: Self = Self {
        status: SourceStatus::Skipped,
        fetched_at: None,
        latency: None,
    };
}

/// One report per backend.
pub type SourceReports = PerSource<SourceReport>;

impl SourceReports {
    /// No backend asked yet.
    pub fn skipped() -> Self {
        Self::same(SourceReport::SKIPPED)
    }

    /// The backends that were asked.
    pub fn asked(&self) -> SourceSet {
        self.iter()
            .filter(|(_, r)| r.status != SourceStatus::Skipped)
            .map(|(kind, _)| kind)
            .collect()
    }

    /// Every backend that was asked answered just now.
    pub fn is_complete(&self) -> bool {
        self.iter()
            .all(|(_, r)| matches!(r.status, SourceStatus::Ok | SourceStatus::Skipped))
    }

    /// Every backend was asked and answered just now: what derived data (the insights) needs
    /// to be complete.
    pub fn all_answered(&self) -> bool {
        self.iter().all(|(_, r)| r.status == SourceStatus::Ok)
    }

    /// Some backend's data is an older copy.
    pub fn has_stale(&self) -> bool {
        self.iter().any(|(_, r)| r.status == SourceStatus::Stale)
    }

    /// The report of `source` as a caller that asked for `sections` should see it: backends
    /// its sections did not need are `Skipped`, whatever the cached entry holds.
    pub fn report_for(&self, source: SourceKind, sections: SectionSet) -> SourceReport {
        if sections.sources().contains(source) {
            self[source]
        } else {
            SourceReport::SKIPPED
        }
    }

    /// Serve on error: every backend that failed now and whose data in `previous` is good
    /// and read at `oldest` or later is marked `Stale`, with the time that copy was read.
    /// Returns those backends: their sections are to come from `previous`.
    pub fn stand_in(&mut self, previous: &Self, oldest: Timestamp) -> SourceSet {
        let mut stood_in = SourceSet::EMPTY;
        for kind in SourceKind::ALL {
            let before = previous[kind];
            let good_before =
                before.status.has_data() && before.fetched_at.is_some_and(|at| at >= oldest);
            if self[kind].status.is_failure() && good_before {
                self[kind].status = SourceStatus::Stale;
                self[kind].fetched_at = before.fetched_at;
                stood_in = stood_in.union(SourceSet::of(&[kind]));
            }
        }
        stood_in
    }

    /// The same reports with every fresh answer marked `Stale`: when no backend answers now
    /// and the whole last copy is served.
    pub fn all_stale(&self) -> Self {
        let mut reports = *self;
        for kind in SourceKind::ALL {
            if reports[kind].status == SourceStatus::Ok {
                reports[kind].status = SourceStatus::Stale;
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn at(minute: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 30, 12, minute, 0)
            .single()
            .expect("valid time")
    }

    fn report(status: SourceStatus, minute: u32) -> SourceReport {
        SourceReport {
            status,
            fetched_at: Some(at(minute)),
            latency: Some(Duration::from_millis(2)),
        }
    }

    #[test]
    fn a_failed_backend_stands_in_its_good_copy_unless_it_is_too_old() {
        use SourceStatus::*;
        let previous = PerSource {
            billing: report(Ok, 10),
            orders: report(Stale, 5),
            fulfilment: report(Ok, 1),
            crm: report(Ok, 10),
        };
        let mut now = PerSource {
            billing: report(Unavailable, 20),
            orders: report(Timeout, 20),
            fulfilment: report(Unavailable, 20),
            crm: report(Ok, 20),
        };
        let stood_in = now.stand_in(&previous, at(3));
        assert_eq!(
            stood_in,
            SourceSet::of(&[SourceKind::Billing, SourceKind::Orders])
        );
        assert_eq!(
            (now.billing.status, now.billing.fetched_at),
            (Stale, Some(at(10)))
        );
        assert_eq!(
            (now.orders.status, now.orders.fetched_at),
            (Stale, Some(at(5)))
        );
        // Read at minute 1, before the oldest allowed: no stand-in.
        assert_eq!(now.fulfilment.status, Unavailable);
        assert_eq!(now.crm, report(Ok, 20));
        assert!(now.has_stale() && !now.all_answered());
    }

    #[test]
    fn with_nothing_fresh_every_answer_is_served_stale() {
        let mut reports = SourceReports::skipped();
        reports.billing = report(SourceStatus::Ok, 1);
        reports.crm = report(SourceStatus::Ok, 1);
        assert!(reports.is_complete() && !reports.all_answered());
        let stale = reports.all_stale();
        assert_eq!(stale.billing.status, SourceStatus::Stale);
        assert_eq!(stale.orders.status, SourceStatus::Skipped);
        assert_eq!(
            stale.asked(),
            SourceSet::of(&[SourceKind::Billing, SourceKind::Crm])
        );
    }
}
