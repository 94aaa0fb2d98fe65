//! The `c360` command: the server, the seeder, the demo and a client in one binary.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use c360::{
    app::App,
    app::config::Settings,
    app::telemetry,
    core::db::{Db, PoolOptions},
    edge::server,
    tools::client::{self, DEFAULT_ADDR, Format, LookupBy, Server},
    tools::demo::{self, DemoOptions},
    tools::seed::{self, SeedOptions},
};
use chrono::{NaiveDate, TimeZone, Utc};
use clap::{Args, Parser, Subcommand};
use figment::value::Value;

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        /// Listen beyond loopback although c360 authenticates no caller: only behind a
        /// proxy that authenticates every caller (server.unauthenticated_beyond_loopback).
        #[arg(long)]
        unauthenticated_beyond_loopback: bool,
    },
    /// Create the reference schema in a database and fill it with a realistic data set.
    Seed {
        /// postgres://… or sqlite://… (a SQLite file is created if missing).
        #[arg(long)]
        database_url: String,
        /// How many customers.
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        /// Random seed: the same seed and --as-of give the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The data set's "today", YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Mint a development token for roles, signed with the configuration's auth.jwt.secret
    /// (HS*): `C360_TOKEN=$(c360 token --role agent) c360 get 42`.
    Token {
        /// A TOML configuration file with [auth.jwt] (see c360.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// A role to grant; repeat for more.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The token's subject: who the caller is.
        #[arg(long, default_value = "dev")]
        subject: String,
        /// How long it is valid, e.g. 1h.
        #[arg(long, default_value = "1h", value_parser = humantime_serde::re::humantime::parse_duration)]
        ttl: std::time::Duration,
    },
    /// Make a new API key for a service: prints the key (for the service) and the
    /// [[auth.api_keys]] entry with its hash (for the configuration).
    ApiKey {
        /// The service's name, as logs will show it.
        #[arg(long)]
        name: String,
        /// A role to grant; repeat for more.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
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
    Demo {
        /// Customers to seed when the database is created (default 10000); refused for an
        /// existing database that holds another number.
        #[arg(long)]
        customers: Option<u64>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// The SQLite file.
        #[arg(long, default_value = "c360-demo.db")]
        db: PathBuf,
        /// Keep changing a few customers (orders, parcels, tickets, payments) to watch live.
        #[arg(long)]
        activity: bool,
        /// Where to serve Prometheus metrics (`/metrics`).
        #[arg(long, default_value = "127.0.0.1:9360")]
        metrics_listen: SocketAddr,
        /// Serve no metrics.
        #[arg(long)]
        no_metrics: bool,
    },
}

/// Which server a client command talks to, and how long it waits.
#[derive(Debug, Args)]
struct Connection {
    /// The c360 server: host:port or http://host:port (plaintext), https://host:port (TLS).
    #[arg(long, env = "C360_ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// How long to wait for the answer, connecting included, e.g. 10s or 500ms.
    #[arg(long, default_value = "10s", value_parser = humantime_serde::re::humantime::parse_duration)]
    timeout: Duration,
}

impl Connection {
    fn server(&self) -> anyhow::Result<Server> {
        anyhow::ensure!(!self.timeout.is_zero(), "--timeout must be more than 0");
        Ok(Server::parse(&self.addr)?.with_timeout(self.timeout))
    }
}

#[derive(Debug, Args)]
struct Target {
    #[command(flatten)]
    server: Connection,
    /// Print JSON (the proto3 mapping) instead of text.
    #[arg(long)]
    json: bool,
}

impl Target {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct LookupArgs {
    /// Email address.
    #[arg(long)]
    email: Option<String>,
    /// Phone number with its country code, any notation.
    #[arg(long)]
    phone: Option<String>,
    /// Order id.
    #[arg(long)]
    order: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::new(error)),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// One line on stderr, and a failing exit code.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            config,
            listen,
            database_url,
            metrics_listen,
            unauthenticated_beyond_loopback,
        } => {
            let mut flags = Vec::new();
            if unauthenticated_beyond_loopback {
                flags.push(("server.unauthenticated_beyond_loopback", Value::from(true)));
            }
            if let Some(listen) = listen {
                flags.push(("server.listen", Value::from(listen.to_string())));
            }
            if let Some(url) = database_url {
                flags.push(("database.url", Value::from(url)));
            }
            if let Some(metrics) = metrics_listen {
                flags.push(("metrics.listen", Value::from(metrics.to_string())));
            }
            let settings = Settings::load(config.as_deref(), flags)?;
            serve(settings).await
        }
        Command::Seed {
            database_url,
            customers,
            seed: seed_value,
            as_of,
        } => {
            let mut log = Settings::default().log;
            // ANALYZE at the end of a large seed is slow by design.
            log.filter = "info,sqlx::query=error".into();
            let _telemetry = telemetry::init(&log, &Default::default())?;
            let mut options = SeedOptions::new(customers, seed_value);
            if let Some(day) = as_of {
                options.as_of = Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN));
            }
            let db = Db::connect_or_create(&database_url, PoolOptions::default()).await?;
            let bar = seed::progress_bar(customers);
            let report = seed::seed(&db, &options, |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            println!(
                "Seeded {} customers ({} rows) in {:.1}s.",
                report.customers,
                report.rows,
                report.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::Get {
            id,
            target,
            sections,
        } => {
            let text =
                client::get(&target.server.server()?, &id, &sections, target.format()).await?;
            print!("{}", with_newline(text));
            Ok(())
        }
        Command::Watch {
            id,
            target,
            sections,
        } => {
            let format = target.format();
            let server = target.server.server()?;
            let mut first = true;
            let stream = client::watch(&server, &id, &sections, format, |text| {
                if !first && format == Format::Text {
                    println!(
                        "\n── changed at {} ──",
                        chrono::Local::now().format("%H:%M:%S")
                    );
                }
                first = false;
                print!("{}", with_newline(text));
            });
            tokio::select! {
                result = stream => result?,
                () = shutdown_signal() => {}
            }
            Ok(())
        }
        Command::Invalidate { ids, server } => {
            println!("{}", client::invalidate(&server.server()?, &ids).await?);
            Ok(())
        }
        Command::Stats { target } => {
            let text = client::stats(&target.server.server()?, target.format()).await?;
            print!("{}", with_newline(text));
            Ok(())
        }
        Command::Top {
            server,
            interval,
            count,
        } => {
            use std::io::IsTerminal;
            anyhow::ensure!(
                interval >= Duration::from_millis(100),
                "--interval must be at least 100ms"
            );
            let terminal = std::io::stdout().is_terminal();
            let server = server.server()?;
            let addr = server.uri().to_owned();
            let follow = client::top(&server, interval, count, |text| {
                if terminal {
                    // Clear the screen and go home, as top does.
                    print!("\x1b[2J\x1b[H");
                }
                println!(
                    "c360 at {addr} · {}",
                    chrono::Local::now().format("%H:%M:%S")
                );
                print!("{}", with_newline(text));
                if !terminal {
                    println!();
                }
            });
            tokio::select! {
                result = follow => result?,
                () = shutdown_signal() => {}
            }
            Ok(())
        }
        Command::Lookup { by, target } => {
            let by = match (by.email, by.phone, by.order) {
                (Some(email), _, _) => LookupBy::Email(email),
                (_, Some(phone), _) => LookupBy::Phone(phone),
                (_, _, Some(order)) => LookupBy::Order(order),
                _ => anyhow::bail!("give one of --email, --phone or --order"),
            };
            let text = client::lookup(&target.server.server()?, by, target.format()).await?;
            print!("{}", with_newline(text));
            Ok(())
        }
        Command::Token {
            config,
            roles,
            subject,
            ttl,
        } => {
            let settings = Settings::load(config.as_deref(), [])?;
            let jwt = settings
                .auth
                .jwt
                .as_ref()
                .context("no [auth.jwt] in the configuration: nothing to sign tokens with")?;
            println!(
                "{}",
                c360::edge::auth::mint(&jwt.settings(), &subject, &roles, ttl)?
            );
            Ok(())
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "c360", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => {
            use clap::CommandFactory;
            let command = Cli::command().name("c360");
            match dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    clap_mangen::generate_to(command, &dir).with_context(|| {
                        format!("cannot write the pages into {}", dir.display())
                    })?;
                }
                None => clap_mangen::Man::new(command).render(&mut std::io::stdout())?,
            }
            Ok(())
        }
        Command::ApiKey { name, roles } => {
            let key = c360::edge::auth::new_api_key();
            println!("key (give it to {name}, keep it nowhere else): {key}");
            println!();
            println!("[[auth.api_keys]]");
            println!("name = {name:?}");
            println!("sha256 = {:?}", c360::edge::auth::api_key_hash(&key));
            println!("roles = {roles:?}");
            Ok(())
        }
        Command::Demo {
            customers,
            listen,
            db,
            activity,
            metrics_listen,
            no_metrics,
        } => {
            // One access line per call: the demo's calls are few, and worth seeing.
            let mut log = Settings::default().log;
            log.access = true;
            let _telemetry = telemetry::init(&log, &Default::default())?;
            let program = std::env::args().next().unwrap_or_else(|| "c360".into());
            let options = DemoOptions {
                customers,
                listen,
                db,
                activity,
                metrics: (!no_metrics).then_some(metrics_listen),
            };
            demo::run(options, &program, shutdown_signal()).await?;
            Ok(())
        }
    }
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let telemetry = telemetry::init(&settings.log, &settings.trace)?;
    let served = serve_with(settings).await;
    telemetry.shutdown().await;
    served
}

async fn serve_with(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    let addr = listener.local_addr()?;
    let metrics = match settings.metrics.listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot serve metrics on {at}"))?,
        ),
        None => None,
    };
    let app = App::connect(&settings).await?;
    let metrics_addr = metrics.as_ref().and_then(|m| m.local_addr().ok());
    let signalled = shutdown_signal();
    tracing::info!(%addr, metrics = ?metrics_addr, "c360 serving");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = settings.server.drain + settings.server.shutdown_grace;
    let server = server::run_with_metrics(listener, metrics, app, async move {
        signalled.await;
        let _ = stop_tx.send(());
    });
    tokio::select! {
        result = server => Ok(result?),
        () = grace_expired(stop_rx, grace) => {
            tracing::warn!(?grace, "calls still in flight after the drain and the grace; cutting them off");
            anyhow::bail!("calls were still in flight after the drain and the grace; they were cut off")
        }
    }
}

/// Resolves `grace` after the shutdown signal; never if there is none.
async fn grace_expired(signalled: tokio::sync::oneshot::Receiver<()>, grace: Duration) {
    if signalled.await.is_ok() {
        tokio::time::sleep(grace).await;
    } else {
        std::future::pending::<()>().await;
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a signal that comes right after a "serving" line still stops c360 gracefully.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let wait = |signal: Option<Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let interrupt = wait(signal(SignalKind::interrupt()).ok());
        let terminate = wait(signal(SignalKind::terminate()).ok());
        async move {
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
