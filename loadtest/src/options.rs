//! The command line: ghz's flags where ghz has one, and the checks that turn bad flags into a
//! clear message before anything is sent.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::calls::{Body, Call, CallMix, Fixed, IdDistribution, IdRange};

/// The slowest open-loop rate: one request in a thousand seconds (slower plans overflow the
/// clock arithmetic of send times).
const MIN_RPS: f64 = 1e-3;

/// Load generator for c360, and the bare baseline server.
#[derive(Debug, Parser)]
#[command(
    name = "c360-loadtest",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Other things the binary does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A bare tonic server answering GetCustomerProfile with a fixed payload: the ceiling of
    /// this gRPC stack on this machine.
    BaselineServer {
        /// Size of the encoded profile it answers with.
        #[arg(long, default_value_t = 4096)]
        bytes: usize,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50052")]
        listen: std::net::SocketAddr,
    },
    /// Reads profiles one by one past the caches and reports what a miss costs beyond its
    /// slowest backend (each answer says how long each backend took).
    Probe {
        /// Reads to make.
        #[arg(long, default_value_t = 200)]
        samples: u64,
        /// Customer ids, e.g. 1-10000.
        #[arg(long, default_value = "1-10000")]
        ids: IdRange,
        /// The server.
        target: String,
    },
    /// A TCP fault proxy on loopback that stalls the link on a schedule: bytes pass, then are
    /// held from `--stall-from` for `--stall-for` (and delivered after), then pass again; the
    /// proxy exits after `--run-for`.
    FaultProxy {
        /// Address to listen on (loopback only).
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Where to forward, e.g. 127.0.0.1:5432.
        #[arg(long)]
        to: std::net::SocketAddr,
        /// When the stall starts, from the proxy's start.
        #[arg(long, value_parser = humantime::parse_duration)]
        stall_from: Duration,
        /// How long it lasts.
        #[arg(long, value_parser = humantime::parse_duration)]
        stall_for: Duration,
        /// When the proxy exits, from its start.
        #[arg(long, value_parser = humantime::parse_duration)]
        run_for: Duration,
    },
    /// Opens many `WatchCustomerProfile` streams at once, one per customer, and reports how
    /// many opened, how fast, and how long changes took to reach them: a change is timed by
    /// its writer, who sets a customer's loyalty points to 1,000,000,000 plus its clock in
    /// milliseconds modulo 10^9 (`scripts/bench` runs pgbench so).
    Watch {
        /// Watches to open.
        #[arg(long, default_value_t = 10_000)]
        watchers: u64,
        /// HTTP/2 connections they share.
        #[arg(long, default_value_t = 50)]
        connections: usize,
        /// Customer ids, one per watcher, round.
        #[arg(long, default_value = "1-10000")]
        ids: IdRange,
        /// How long to keep them once they have opened, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The server.
        target: String,
    },
    /// Draws the latency percentiles of JSON reports in one SVG chart.
    Chart {
        /// Reports written with `-O json`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The SVG file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Report formats (`-O`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for a terminal.
    Summary,
    /// ghz's JSON report, with p99.9 and the percentile spectrum added.
    Json,
    /// The percentile spectrum, one row per percentile.
    Csv,
    /// A page with the summary and the chart.
    Html,
}

/// A load test.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Method: get, batch, lookup, search (a drawn customer's history searched for common
    /// words of the seed's three languages, in turn) (ids drawn from --ids), a weighted mix such as
    /// get=90,batch=5,lookup=5, or any unary method of the API by its full name
    /// (customer360.v1.CatalogService.GetProduct, or with a /) with its request in -d or -B.
    #[arg(long, default_value = "get")]
    pub call: String,
    /// The request of --call in JSON (the proto3 mapping), sent every time, as ghz's -d.
    #[arg(short = 'd', long, conflicts_with = "binary_file")]
    pub data: Option<String>,
    /// A file holding the encoded request of --call, sent every time, as ghz's -B.
    #[arg(short = 'B', long = "binary-file")]
    pub binary_file: Option<PathBuf>,
    /// The share of calls that may fail (0 to 1) before the run exits non-zero, after its
    /// report: 0 (the default) fails on any error, 1 never.
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
    /// Workers sending requests at once.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub concurrency: usize,
    /// HTTP/2 connections the workers share.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Requests to send (default 200, unless --duration is given).
    #[arg(short = 'n', long)]
    pub total: Option<u64>,
    /// How long to send, e.g. 30s; with --total, whichever ends first.
    #[arg(short = 'z', long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests per second, open loop: each request has a planned send time and its latency
    /// counts from then. 0: as fast as the workers go (closed loop).
    #[arg(long, default_value_t = 0.0)]
    pub rps: f64,
    /// Results to leave out of the report, from the first.
    #[arg(long = "skipFirst", default_value_t = 0)]
    pub skip_first: u64,
    /// Load to run before measuring, e.g. 5s.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Deadline of each request.
    #[arg(short = 't', long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Customer ids to ask for, e.g. 1-100000.
    #[arg(long, default_value = "1-10000")]
    pub ids: IdRange,
    /// How ids are drawn from the range: uniform, sequential (each in turn), or zipf:S
    /// (e.g. zipf:0.99).
    #[arg(long = "id-distribution", default_value = "uniform")]
    pub distribution: IdDistribution,
    /// Read mask sections, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub sections: Vec<String>,
    /// Ask c360 to skip its caches (every profile read goes to the backends): the miss path.
    #[arg(long)]
    pub bypass_cache: bool,
    /// Ids per BatchGetCustomerProfiles request.
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,
    /// Report format.
    #[arg(short = 'O', long, value_enum, default_value = "summary")]
    pub format: Format,
    /// Report file (default: standard output).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Also draw the latency percentiles to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Name of the run, in reports and charts (default: none; charts then use the address).
    #[arg(long, default_value = "")]
    pub name: String,
    /// Metadata sent with every call, as ghz's -m: a JSON object of strings, e.g.
    /// '{"authorization":"Bearer eyJ…"}'.
    #[arg(short = 'm', long)]
    pub metadata: Option<String>,
    /// Record every request in the JSON report's `details`.
    #[arg(long)]
    pub details: bool,
    /// Accepted for ghz users: c360-loadtest speaks plaintext HTTP/2.
    #[arg(long)]
    pub insecure: bool,
    /// Threads of the load generator (default: one per core). On a machine it shares with
    /// the server, fewer threads leave the server more room.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the id stream, for repeatable runs.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The server, last: 127.0.0.1:50051 or http://127.0.0.1:50051.
    pub target: Option<String>,
}

/// A validated load test.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Headers sent with every call.
    pub metadata: Vec<(String, String)>,
    pub call: CallMix,
    pub concurrency: usize,
    pub connections: usize,
    pub total: Option<u64>,
    pub duration: Option<Duration>,
    pub rps: Option<f64>,
    pub skip_first: u64,
    pub warmup: Option<Duration>,
    pub timeout: Duration,
    pub ids: IdRange,
    pub distribution: IdDistribution,
    pub sections: Vec<String>,
    pub bypass_cache: bool,
    pub batch_size: usize,
    pub details: bool,
    pub seed: u64,
    pub target: String,
    pub name: String,
    /// The request of a fixed call, as given in JSON (`-d`), for the report.
    pub data: Option<serde_json::Value>,
    /// Whether the request came as a binary file (`-B`).
    pub binary: bool,
    /// The share of calls that may fail.
    pub max_error_rate: f64,
}

impl RunArgs {
    /// Checks the flags together; the message says what to change.
    pub fn plan(&self) -> Result<Plan, String> {
        let target = self.target.as_deref().ok_or(
            "give the server's address last, e.g. c360-loadtest --call get 127.0.0.1:50051",
        )?;
        let target = if target.contains("://") {
            target.to_owned()
        } else {
            format!("http://{target}")
        };
        let call = match (&self.data, &self.binary_file) {
            (None, None) => self.call.parse::<CallMix>()?,
            (Some(json), _) => CallMix::only(Call::Fixed(
                Fixed::new(&self.call, Body::Json(json))?.into(),
            )),
            (None, Some(path)) => {
                let bytes =
                    std::fs::read(path).map_err(|e| format!("-B {}: {e}", path.display()))?;
                CallMix::only(Call::Fixed(
                    Fixed::new(&self.call, Body::Binary(&bytes))?.into(),
                ))
            }
        };
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err("--max-error-rate must be from 0 to 1, e.g. 0.01 for 1 %".into());
        }
        if self.concurrency == 0 {
            return Err("-c/--concurrency must be at least 1".into());
        }
        if self.connections == 0 || self.connections > self.concurrency {
            return Err("--connections must be between 1 and -c/--concurrency".into());
        }
        if !(self.rps == 0.0 || (self.rps >= MIN_RPS && self.rps.is_finite())) {
            return Err(format!(
                "--rps must be 0 (closed loop) or a rate of at least {MIN_RPS} a second"
            ));
        }
        if self.total == Some(0) {
            return Err("-n/--total must be at least 1".into());
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return Err("-z/--duration must be longer than 0".into());
        }
        if self.batch_size == 0 || self.batch_size > 100 {
            return Err("--batch-size must be between 1 and 100 (the server's limit)".into());
        }
        let total = match (self.total, self.duration) {
            (None, None) => Some(200),
            (total, _) => total,
        };
        if total.is_some_and(|t| t <= self.skip_first) {
            return Err(
                "--skipFirst leaves no result to report: raise -n or lower --skipFirst".into(),
            );
        }
        let metadata = match &self.metadata {
            None => Vec::new(),
            Some(json) => {
                let object: std::collections::BTreeMap<String, String> = serde_json::from_str(json)
                    .map_err(|_| {
                        "-m/--metadata must be a JSON object of strings, e.g. \
                         '{\"authorization\":\"Bearer …\"}'"
                            .to_owned()
                    })?;
                let valid = object.iter().all(|(k, v)| {
                    tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(k.as_bytes())
                        .is_ok()
                        && tonic::metadata::AsciiMetadataValue::try_from(v.as_str()).is_ok()
                });
                if !valid {
                    return Err("-m/--metadata: a key or a value is not a valid header".into());
                }
                object.into_iter().collect()
            }
        };
        Ok(Plan {
            metadata,
            call,
            concurrency: self.concurrency,
            connections: self.connections,
            total,
            duration: self.duration,
            rps: (self.rps > 0.0).then_some(self.rps),
            skip_first: self.skip_first,
            warmup: self.warmup,
            timeout: self.timeout,
            ids: self.ids,
            distribution: self.distribution,
            sections: self.sections.clone(),
            bypass_cache: self.bypass_cache,
            batch_size: self.batch_size,
            details: self.details,
            seed: self.seed,
            target,
            name: self.name.clone(),
            data: self
                .data
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok()),
            binary: self.binary_file.is_some(),
            max_error_rate: self.max_error_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan, String> {
        let cli = Cli::try_parse_from(std::iter::once("c360-loadtest").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.run.plan()
    }

    #[test]
    fn ghz_style_flags_make_a_plan() {
        let plan = plan(&[
            "--call",
            "customer360.v1.CustomerService.GetCustomerProfile",
            "-c",
            "64",
            "--connections",
            "4",
            "-z",
            "30s",
            "--rps",
            "5000",
            "--skipFirst",
            "100",
            "--ids",
            "1-1000000",
            "--id-distribution",
            "zipf:0.99",
            "127.0.0.1:50051",
        ])
        .unwrap();
        assert_eq!(plan.target, "http://127.0.0.1:50051");
        assert_eq!((plan.concurrency, plan.connections), (64, 4));
        assert_eq!(plan.duration, Some(Duration::from_secs(30)));
        assert_eq!(plan.total, None);
        assert_eq!(plan.rps, Some(5000.0));
        assert_eq!(plan.distribution, IdDistribution::Zipf(0.99));
    }

    #[test]
    fn bad_flags_say_what_to_change() {
        let cases: &[(&[&str], &str)] = &[
            (&["--call", "get"], "address last"),
            (&["--call", "Delete", "x:1"], "unknown call"),
            (&["-c", "0", "x:1"], "concurrency"),
            (&["-c", "2", "--connections", "3", "x:1"], "connections"),
            (&["--rps=-5", "x:1"], "rps"),
            (&["--rps=1e-300", "x:1"], "rps"),
            (&["-n", "10", "--skipFirst", "10", "x:1"], "skipFirst"),
            (&["--ids", "9-1", "x:1"], "ids"),
            (&["--id-distribution", "zipf:-1", "x:1"], "zipf"),
            (&["--batch-size", "500", "x:1"], "batch-size"),
        ];
        for (args, expected) in cases {
            let error = plan(args).unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn without_a_count_or_a_duration_two_hundred_requests_are_sent() {
        assert_eq!(plan(&["x:1"]).unwrap().total, Some(200));
    }
}
