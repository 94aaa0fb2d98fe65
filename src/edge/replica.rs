//! This replica: the version and git revision of its build, and when it started. `/metrics`
//! (`c360_build_info`, `process_start_time_seconds`), `GetCacheStats` and the start-up line
//! say the same.

use std::{
    sync::OnceLock,
    time::{Duration, Instant, SystemTime},
};

/// The package's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision of the build, from `build.rs` (`unknown` outside a checkout).
pub const REVISION: &str = env!("GIT_REVISION");

/// When this replica started, by the wall clock and by the monotonic one: first asked as the
/// server starts.
static STARTED: OnceLock<(SystemTime, Instant)> = OnceLock::new();

fn start() -> (SystemTime, Instant) {
    *STARTED.get_or_init(|| (SystemTime::now(), Instant::now()))
}

/// Notes the start, once (the server calls it as it starts); when it was.
pub fn started() -> SystemTime {
    start().0
}

/// When this replica started, in Unix seconds.
pub fn started_unix_seconds() -> f64 {
    started()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// How long since it started, by the monotonic clock (a wall clock set back does not shorten
/// it).
pub fn uptime() -> Duration {
    start().1.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_noted_once_and_uptime_grows_from_it() {
        let first = started();
        let before = uptime();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(started(), first);
        assert!(uptime() >= before + Duration::from_millis(5));
        assert!(started_unix_seconds() > 1.7e9, "after 2023");
    }
}
