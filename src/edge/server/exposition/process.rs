//! The process's own figures under the names every Prometheus client library gives them
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`, …), so
//! that the usual dashboards and alerts apply. Read from `/proc/self` at each scrape; where
//! there is no `/proc` (not Linux) a figure is left out rather than reported as zero.

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

/// The figures readable now.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Process {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    threads: Option<f64>,
}

impl Process {
    /// Reads `/proc/self`.
    pub(super) fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let schedstat = std::fs::read_to_string("/proc/self/schedstat").unwrap_or_default();
        Self {
            // The first figure is the time on a CPU, in nanoseconds, all threads together.
            cpu_seconds: schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<f64>().ok())
                .map(|ns| ns / 1e9),
            resident_bytes: kilobytes(&status, "VmRSS:"),
            virtual_bytes: kilobytes(&status, "VmSize:"),
            threads: field(&status, "Threads:").and_then(|n| n.parse().ok()),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as f64),
            max_fds: limits
                .lines()
                .find_map(|line| line.strip_prefix("Max open files"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|soft| soft.parse().ok()),
        }
    }

    /// Writes them, with the start time.
    pub(super) fn encode(&self, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        if let Some(seconds) = self.cpu_seconds {
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "CPU time the process has used, user and system, in seconds.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(seconds).encode(metric)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory, in bytes.",
                self.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory, in bytes.",
                self.virtual_bytes,
            ),
            ("process_open_fds", "Open file descriptors.", self.open_fds),
            (
                "process_max_fds",
                "The most file descriptors the process may open.",
                self.max_fds,
            ),
            ("process_threads", "Threads of the process.", self.threads),
            (
                "process_start_time_seconds",
                "When the process started, in Unix seconds.",
                Some(crate::edge::replica::started_unix_seconds()),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(value).encode(metric)?;
            }
        }
        Ok(())
    }
}

/// The value of `name` in `/proc/self/status`.
fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .map(str::trim)
}

/// A `kB` figure of `/proc/self/status`, in bytes.
fn kilobytes(status: &str, name: &str) -> Option<f64> {
    let value = field(status, name)?;
    let kb: f64 = value.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_reports_its_figures() {
        let process = Process::read();
        if cfg!(target_os = "linux") {
            assert!(
                process.resident_bytes.is_some_and(|b| b > 1e6),
                "{process:?}"
            );
            assert!(process.cpu_seconds.is_some_and(|s| s > 0.0), "{process:?}");
            assert!(process.open_fds.is_some_and(|n| n >= 3.0), "{process:?}");
            assert!(
                process
                    .max_fds
                    .is_some_and(|n| n >= process.open_fds.unwrap_or(0.0)),
                "{process:?}"
            );
        }
        assert_eq!(
            kilobytes("VmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048.0 * 1024.0)
        );
    }
}
