//! Reports: ghz's JSON — its `runner.Report` field for field, with ghz's types (times in
//! nanoseconds, `percentage` a whole number, `date` and `details[].timestamp` in RFC 3339,
//! `endReason` one of `normal`, `cancel`, `timeout`, `options` as ghz's `runner.Options`) —
//! plus `p999` and the HdrHistogram `percentileSpectrum`, which ghz's consumers ignore; a
//! summary for a terminal; CSV; HTML.

use std::{collections::BTreeMap, fmt::Write};

use serde::{Deserialize, Serialize};

use crate::{
    options::Plan,
    run::{Detail, RunResult},
};

/// One point of `latencyDistribution`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// Percentage of requests at or under `latency` (a whole number, as ghz's).
    pub percentage: u32,
    /// Nanoseconds.
    pub latency: u64,
}

/// One bucket of `histogram`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper edge, seconds (as ghz).
    pub mark: f64,
    /// Requests in the bucket.
    pub count: u64,
    /// Share of all requests.
    pub frequency: f64,
}

/// One point of the percentile spectrum.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpectrumPoint {
    /// Percentile, 0 to 100.
    pub percentile: f64,
    /// Nanoseconds.
    pub latency: u64,
}

/// The settings of the run: ghz's `runner.Options` (durations in nanoseconds), then what
/// only c360-loadtest has.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ReportOptions {
    pub host: String,
    pub call: String,
    /// Plaintext, always.
    pub insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<u64>,
    pub concurrency: usize,
    /// Open-loop rate, whole requests a second (ghz's `qps`); 0: closed loop.
    pub qps: u64,
    pub connections: usize,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<u64>,
    /// Each request's deadline, nanoseconds.
    pub timeout: u64,
    #[serde(rename = "skipFirst")]
    pub skip_first: u64,
    /// The request sent every time (`-d`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<serde_json::Value>,
    /// Whether the request came as a binary file (`-B`).
    pub binary: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "CPUs")]
    pub cpus: usize,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    /// The open-loop rate as given (not rounded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rps: Option<f64>,
    /// The customer ids asked for, FIRST-LAST.
    pub ids: String,
    /// How they were drawn.
    #[serde(rename = "idDistribution")]
    pub distribution: String,
}

/// A ghz-shaped report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    /// `normal`, `cancel` or `timeout`.
    pub end_reason: String,
    /// RFC 3339, whole seconds.
    pub date: String,
    pub options: ReportOptions,
    pub count: u64,
    /// Nanoseconds from the first send to the last answer.
    pub total: u64,
    pub average: u64,
    pub fastest: u64,
    pub slowest: u64,
    pub rps: f64,
    pub error_distribution: BTreeMap<String, u64>,
    pub status_code_distribution: BTreeMap<String, u64>,
    pub latency_distribution: Vec<LatencyPoint>,
    pub histogram: Vec<Bucket>,
    /// 99.9th percentile, nanoseconds.
    pub p999: u64,
    pub percentile_spectrum: Vec<SpectrumPoint>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<Vec<Detail>>,
}

/// ghz's percentages (p99.9 is `p999`).
const PERCENTAGES: [u32; 7] = [10, 25, 50, 75, 90, 95, 99];

impl Report {
    /// The report of `result`, run as `plan` says.
    pub fn new(plan: &Plan, result: RunResult) -> Self {
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let h = &result.recorder.latencies;
        let count = h.len();
        let total = u64::try_from(result.elapsed.as_nanos()).unwrap_or(u64::MAX);
        let (fastest, slowest) = if count == 0 {
            (0, 0)
        } else {
            (h.min(), h.max())
        };
        let buckets = 10;
        let width = (slowest.saturating_sub(fastest) / buckets).max(1);
        let histogram = (0..buckets)
            .map(|b| {
                let low = fastest + b * width;
                let high = if b == buckets - 1 {
                    slowest
                } else {
                    low + width - 1
                };
                let n = h.count_between(low, high.max(low));
                Bucket {
                    mark: high as f64 / 1e9,
                    count: n,
                    frequency: if count == 0 {
                        0.0
                    } else {
                        n as f64 / count as f64
                    },
                }
            })
            .collect();
        let percentile_spectrum = h
            .iter_quantiles(2)
            .map(|v| SpectrumPoint {
                percentile: v.quantile_iterated_to() * 100.0,
                latency: v.value_iterated_to(),
            })
            .collect();
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self {
            name: plan.name.clone(),
            end_reason: result.end_reason.to_owned(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            options: ReportOptions {
                host: plan.target.clone(),
                call: plan.call.to_string(),
                insecure: true,
                total: plan.total,
                concurrency: plan.concurrency,
                qps: plan.rps.map_or(0, |rps| rps.round() as u64),
                connections: plan.connections,
                duration: plan.duration.map(nanos),
                timeout: nanos(plan.timeout),
                skip_first: plan.skip_first,
                data: plan.data.clone(),
                binary: plan.binary,
                metadata: (!plan.metadata.is_empty())
                    .then(|| plan.metadata.iter().cloned().collect()),
                cpus,
                name: plan.name.clone(),
                rps: plan.rps,
                ids: format!("{}-{}", plan.ids.first, plan.ids.last),
                distribution: format!("{:?}", plan.distribution),
            },
            count,
            total,
            average: if count == 0 {
                0
            } else {
                u64::try_from(result.recorder.total_latency / u128::from(count)).unwrap_or(u64::MAX)
            },
            fastest,
            slowest,
            rps: if total == 0 {
                0.0
            } else {
                count as f64 / (total as f64 / 1e9)
            },
            error_distribution: result.recorder.errors.into_iter().collect(),
            status_code_distribution: result.recorder.statuses.into_iter().collect(),
            latency_distribution: PERCENTAGES
                .iter()
                .map(|p| LatencyPoint {
                    percentage: *p,
                    latency: h.value_at_percentile(f64::from(*p)),
                })
                .collect(),
            histogram,
            p999: h.value_at_percentile(99.9),
            percentile_spectrum,
            details: result.recorder.details,
        }
    }

    /// The latency at `percentage` (one of ghz's), nanoseconds.
    pub fn latency_at(&self, percentage: u32) -> u64 {
        self.latency_distribution
            .iter()
            .find(|p| p.percentage == percentage)
            .map_or(0, |p| p.latency)
    }

    /// Calls that did not answer `OK`.
    pub fn errors(&self) -> u64 {
        let ok = self
            .status_code_distribution
            .get("OK")
            .copied()
            .unwrap_or(0);
        self.count.saturating_sub(ok)
    }

    /// The share of calls that failed, 0 to 1 (0 for a run without calls).
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors() as f64 / self.count as f64
        }
    }

    /// What a chart calls this run: its name, else `fallback`.
    pub fn label<'a>(&'a self, fallback: &'a str) -> &'a str {
        if self.name.is_empty() {
            fallback
        } else {
            &self.name
        }
    }

    /// ghz's JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The percentile spectrum as CSV.
    pub fn csv(&self) -> String {
        let mut out = String::from("percentile,latency_ns\n");
        for point in &self.percentile_spectrum {
            let _ = writeln!(out, "{:.6},{}", point.percentile, point.latency);
        }
        out
    }

    /// Text for a terminal, laid out as ghz's.
    pub fn summary(&self) -> String {
        let ms = |ns: u64| format!("{:.2} ms", ns as f64 / 1e6);
        let mut o = String::new();
        let _ = writeln!(o, "\nSummary:");
        if !self.name.is_empty() {
            let _ = writeln!(o, "  Name:\t\t{}", self.name);
        }
        let _ = writeln!(o, "  Count:\t{}", self.count);
        let _ = writeln!(o, "  Total:\t{:.2} s", self.total as f64 / 1e9);
        let _ = writeln!(o, "  Slowest:\t{}", ms(self.slowest));
        let _ = writeln!(o, "  Fastest:\t{}", ms(self.fastest));
        let _ = writeln!(o, "  Average:\t{}", ms(self.average));
        let _ = writeln!(o, "  Requests/sec:\t{:.2}", self.rps);
        let _ = writeln!(o, "  End reason:\t{}", self.end_reason);
        let _ = writeln!(o, "\nResponse time histogram:");
        let widest = self
            .histogram
            .iter()
            .map(|b| b.count)
            .max()
            .unwrap_or(0)
            .max(1);
        for bucket in &self.histogram {
            let bar = "∎".repeat((bucket.count * 40 / widest) as usize);
            let _ = writeln!(o, "  {:>9.3} [{}]\t|{bar}", bucket.mark * 1e3, bucket.count);
        }
        let _ = writeln!(o, "\nLatency distribution:");
        for point in &self.latency_distribution {
            let _ = writeln!(o, "  {} % in {}", point.percentage, ms(point.latency));
        }
        let _ = writeln!(o, "  99.9 % in {}", ms(self.p999));
        let _ = writeln!(o, "\nStatus code distribution:");
        for (status, n) in &self.status_code_distribution {
            let _ = writeln!(o, "  [{status}]\t{n} responses");
        }
        if !self.error_distribution.is_empty() {
            let _ = writeln!(o, "\nError distribution:");
            for (error, n) in &self.error_distribution {
                let _ = writeln!(o, "  [{n}]\t{error}");
            }
        }
        o
    }

    /// A page with the summary and the chart.
    pub fn html(&self, chart: &str) -> String {
        let summary = self.summary().replace('&', "&amp;").replace('<', "&lt;");
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{name}</title></head>\n\
             <body><h1>{name}</h1><pre>{summary}</pre>\n{chart}\n</body></html>\n",
            name = self.label(&self.options.host).replace('<', "&lt;"),
        )
    }
}
