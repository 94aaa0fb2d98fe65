//! The command line, as clap reads it: one subcommand per thing `c360` does.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use c360::tools::client::{DEFAULT_ADDR, Format, Server};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

/// `c360 --version`: the package's version and the git revision it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("GIT_REVISION"),
    ")"
);

/// c360: the whole picture of a customer, over gRPC.
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve gRPC (with health, reflection and gRPC-Web).
    Serve {
        /// A TOML configuration file (see c360.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on; overrides server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The database of every backend; overrides database.url.
        #[arg(long)]
        database_url: Option<String>,
        /// Serve Prometheus metrics (`/metrics`) here; overrides metrics.listen.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Listen beyond loopback with authentication off: only behind a proxy that
        /// authenticates every caller (server.unauthenticated_beyond_loopback).
        #[arg(long)]
        unauthenticated_beyond_loopback: bool,
    },
    /// Create the reference schema in a database and fill it with a realistic data set.
    Seed(SeedArgs),
    /// Mint a development token for roles, signed with the configuration's auth.jwt.secret
    /// (HS*): `C360_TOKEN=$(c360 token --role agent) c360 get 42`.
    Token(TokenArgs),
    /// Make a new API key for a service: prints the key (for the service) and the
    /// [[auth.api_keys]] entry with its hash (for the configuration).
    ApiKey {
        /// The service's name, as logs will show it.
        #[arg(long)]
        name: String,
        /// A role to grant; repeat for more. It must be one the configuration names.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The TOML configuration file whose roles these are (default: the built-in roles).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print a customer's profile.
    Get {
        /// Customer id.
        id: String,
        #[command(flatten)]
        target: Target,
        /// Sections to fetch, comma-separated: identity, billing, orders, shipments,
        /// interactions, insights (default, or empty: all).
        #[arg(long, value_delimiter = ',')]
        sections: Vec<String>,
    },
    /// Follow a customer's profile: print it now and again after each change.
    Watch {
        /// Customer id.
        id: String,
        #[command(flatten)]
        target: Target,
        /// Sections to follow, comma-separated (default, or empty: all).
        #[arg(long, value_delimiter = ',')]
        sections: Vec<String>,
    },
    /// Drop customers from every replica's caches.
    Invalidate {
        /// Customer ids.
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        server: Connection,
    },
    /// Print a replica's figures: calls and latency percentiles per RPC and per backend, the
    /// caches, the change feeds.
    Stats {
        #[command(flatten)]
        target: Target,
    },
    /// Follow a replica's figures, refreshed every second: calls per second and the
    /// percentiles of the last second's calls, per RPC and per backend (like redis-cli --stat).
    Top {
        #[command(flatten)]
        server: Connection,
        /// Between two readings, e.g. 1s or 500ms.
        #[arg(long, default_value = "1s", value_parser = humantime_serde::re::humantime::parse_duration)]
        interval: std::time::Duration,
        /// Stop after this many readings (default: at Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Print the customers who need contact now, most overdue first (agents' attention
    /// queue); with --watch, then each change as it happens.
    Attention {
        #[command(flatten)]
        target: Target,
        /// Most items to print (1-1000).
        #[arg(long, default_value_t = 20)]
        limit: i32,
        /// Follow the queue: print it, then a line for each item added, changed or removed.
        #[arg(long)]
        watch: bool,
    },
    /// Print what you may offer a customer now, problem by problem, and why; or record an
    /// offer (--record PROBLEM --kind KIND), or approve or reject one awaiting approval.
    Offers {
        /// Customer id (not with --approve or --reject).
        #[arg(required_unless_present_any = ["approve", "reject"])]
        id: Option<String>,
        #[command(flatten)]
        target: Target,
        /// Record an offer for this problem of the envelope (e.g. late_shipment/89).
        #[arg(long, value_name = "PROBLEM", requires = "kind")]
        record: Option<String>,
        /// What to offer: refund, free_shipping, discount or goodwill_credit.
        #[arg(long, requires = "record")]
        kind: Option<String>,
        /// How much, for a refund or a credit: "12.50 GBP".
        #[arg(long, requires = "record")]
        amount: Option<String>,
        /// How much, for a discount, in percent.
        #[arg(long, requires = "record")]
        percent: Option<u32>,
        /// A key of yours for the request: recording again with it gives back its offer.
        #[arg(long, requires = "record")]
        request_id: Option<String>,
        /// Approve this offer (a supervisor's).
        #[arg(long, value_name = "OFFER_ID", conflicts_with_all = ["id", "record", "reject"])]
        approve: Option<String>,
        /// Reject this offer (a supervisor's).
        #[arg(long, value_name = "OFFER_ID", conflicts_with_all = ["id", "record"])]
        reject: Option<String>,
    },
    /// Search a customer's history (every chat, ticket, email and call transcript), or
    /// everyone's with --all: c360 search 1042 "charger broken", c360 search --all DH0123456789.
    Search(SearchArgs),
    /// Find customers by email, phone number or order id.
    Lookup {
        #[command(flatten)]
        by: LookupArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Print shell completions: c360 completions bash > /etc/bash_completion.d/c360.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), c360 man > c360.1 && man ./c360.1; or write one page per
    /// command (c360.1, c360-get.1, …) into a directory.
    Man {
        /// Write every page here instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Seed a SQLite database if there is none and serve it: nothing to install.
    Demo(DemoArgs),
    /// Ask a replica whether it is serving (grpc.health.v1 Check), for exec probes, with
    /// grpc_health_probe's exit codes: 0 SERVING, 1 bad arguments, 2 no connection, 3 the
    /// call failed, 4 answered but not SERVING.
    Health {
        #[command(flatten)]
        server: Connection,
        /// The service to ask about, e.g. customer360.v1.CustomerService (default: the
        /// server as a whole, which is SERVING only while a backend answers).
        #[arg(long, default_value = "")]
        service: String,
    },
    /// Check a configuration, as `serve` would read it (the file, then C360_<TABLE>__<KEY>
    /// variables): print it, secrets hidden, and exit 0; or every problem, and exit 1.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// What `c360 config` does.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Read the configuration as `serve` would and print the effective one, secrets hidden
    /// (like nginx -t); every problem found, and exit 1, if it does not hold.
    Check {
        /// A TOML configuration file (see c360.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Which server a client command talks to, and how long it waits.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The c360 server: host:port or http://host:port (plaintext), https://host:port (TLS).
    #[arg(long, env = "C360_ADDR", default_value = DEFAULT_ADDR)]
    pub(crate) addr: String,
    /// How long to wait for the answer, connecting included, e.g. 10s or 500ms.
    #[arg(long, default_value = "10s", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// Print the request's metadata and the response's headers, trailers and status on
    /// stderr, as grpcurl -v does (credentials hidden).
    #[arg(long, short)]
    pub(crate) verbose: bool,
}

impl Connection {
    pub(crate) fn server(&self) -> anyhow::Result<Server> {
        anyhow::ensure!(!self.timeout.is_zero(), "--timeout must be more than 0");
        Ok(Server::parse(&self.addr)?
            .with_timeout(self.timeout)
            .with_verbose(self.verbose))
    }
}

#[derive(Debug, Args)]
pub(crate) struct Target {
    #[command(flatten)]
    pub(crate) server: Connection,
    /// Print JSON (the proto3 mapping) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Target {
    pub(crate) fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct LookupArgs {
    /// Email address.
    #[arg(long)]
    pub(crate) email: Option<String>,
    /// Phone number with its country code, any notation.
    #[arg(long)]
    pub(crate) phone: Option<String>,
    /// Order id.
    #[arg(long)]
    pub(crate) order: Option<String>,
}

// The arguments of `c360 seed` (its help is the variant's).
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// postgres://… or sqlite://… (a SQLite file is created if missing).
    #[arg(long)]
    pub(crate) database_url: String,
    /// How many customers.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) customers: u64,
    /// Random seed: the same seed and --as-of give the same data.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// The data set's "today", YYYY-MM-DD (default: today, UTC).
    #[arg(long)]
    pub(crate) as_of: Option<NaiveDate>,
}

// The arguments of `c360 token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// A TOML configuration file with [auth.jwt] (see c360.example.toml).
    #[arg(long, short)]
    pub(crate) config: Option<PathBuf>,
    /// A role to grant; repeat for more.
    #[arg(long = "role", required = true)]
    pub(crate) roles: Vec<String>,
    /// The token's subject: who the caller is.
    #[arg(long, default_value = "dev")]
    pub(crate) subject: String,
    /// How long it is valid, e.g. 1h.
    #[arg(long, default_value = "1h", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub(crate) ttl: std::time::Duration,
}

// The arguments of `c360 demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Customers to seed when the database is created (default 10000); refused for an
    /// existing database that holds another number.
    #[arg(long)]
    pub(crate) customers: Option<u64>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub(crate) listen: SocketAddr,
    /// The SQLite file.
    #[arg(long, default_value = "c360-demo.db")]
    pub(crate) db: PathBuf,
    /// Keep changing a few customers (orders, parcels, tickets, payments) to watch live.
    #[arg(long)]
    pub(crate) activity: bool,
    /// Where to serve Prometheus metrics (`/metrics`).
    #[arg(long, default_value = "127.0.0.1:9360")]
    pub(crate) metrics_listen: SocketAddr,
    /// Serve no metrics.
    #[arg(long)]
    pub(crate) no_metrics: bool,
}

/// `c360 search`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    /// The customer's id (or --all).
    #[arg(required_unless_present = "all")]
    pub(crate) id: Option<String>,
    /// Words, each of which must be found; "quoted phrases" in order. Romanised Hindi and
    /// Bengali find the same words in their scripts.
    pub(crate) query: Option<String>,
    /// Every customer's history (a role granted SearchAllHistory); the query is then the
    /// only argument.
    #[arg(long, conflicts_with = "query")]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) target: Target,
    /// Only this channel: chat, ticket, call or email (may be repeated).
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub(crate) channels: Vec<String>,
    /// Only messages sent on or after this day (2026-11-01) or instant (RFC 3339).
    #[arg(long)]
    pub(crate) after: Option<String>,
    /// Only messages sent before this day or instant.
    #[arg(long)]
    pub(crate) before: Option<String>,
    /// Most hits to print (1-100).
    #[arg(long, default_value_t = 10)]
    pub(crate) limit: i32,
}
