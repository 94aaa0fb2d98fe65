//! Reports: ghz's JSON (field names and nanosecond times), plus p99.9 and the HdrHistogram
//! percentile spectrum; a summary for a terminal; CSV; HTML.

use std::{collections::BTreeMap, fmt::Write};

use serde::{Deserialize, Serialize};

use crate::{
    options::Plan,
    run::{Detail, RunResult},
};

/// One point of `latencyDistribution`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// Percentage of requests at or under `latency`.
    pub percentage: f64,
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

/// The settings of the run, in the report.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ReportOptions {
    pub call: String,
    pub host: String,
    pub concurrency: usize,
    pub connections: usize,
    pub total: Option<u64>,
    pub duration: Option<String>,
    pub rps: Option<f64>,
    #[serde(rename = "skipFirst")]
    pub skip_first: u64,
    pub ids: String,
    pub distribution: String,
}

/// A ghz-shaped report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub name: String,
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

const PERCENTAGES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];

impl Report {
    /// The report of `result`, run as `plan` says.
    pub fn new(plan: &Plan, result: RunResult) -> Self {
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
        Self {
            name: plan.name.clone(),
            date: chrono::Utc::now().to_rfc3339(),
            options: ReportOptions {
                call: plan.call.to_string(),
                host: plan.target.clone(),
                concurrency: plan.concurrency,
                connections: plan.connections,
                total: plan.total,
                duration: plan
                    .duration
                    .map(|d| humantime::format_duration(d).to_string()),
                rps: plan.rps,
                skip_first: plan.skip_first,
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
                    latency: h.value_at_percentile(*p),
                })
                .collect(),
            histogram,
            p999: h.value_at_percentile(99.9),
            percentile_spectrum,
            details: result.recorder.details,
        }
    }

    /// The latency at `percentage`, nanoseconds.
    pub fn latency_at(&self, percentage: f64) -> u64 {
        self.latency_distribution
            .iter()
            .find(|p| (p.percentage - percentage).abs() < 1e-9)
            .map_or(0, |p| p.latency)
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
        let _ = writeln!(o, "  Name:\t\t{}", self.name);
        let _ = writeln!(o, "  Count:\t{}", self.count);
        let _ = writeln!(o, "  Total:\t{:.2} s", self.total as f64 / 1e9);
        let _ = writeln!(o, "  Slowest:\t{}", ms(self.slowest));
        let _ = writeln!(o, "  Fastest:\t{}", ms(self.fastest));
        let _ = writeln!(o, "  Average:\t{}", ms(self.average));
        let _ = writeln!(o, "  Requests/sec:\t{:.2}", self.rps);
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
            name = self.name.replace('<', "&lt;"),
        )
    }
}
