//! The commands that set c360 up: `seed` (a data set), `token` and `api-key` (credentials),
//! `completions` and `man` (for the shell and the manual).

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use c360::{
    app::{config::Settings, telemetry},
    core::db::{Db, PoolOptions},
    edge::auth,
    tools::seed::{self, SeedOptions},
};
use chrono::{TimeZone, Utc};
use clap::CommandFactory;

use super::cli::{Cli, SeedArgs, TokenArgs};

pub(crate) async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let mut log = Settings::default().log;
    // ANALYZE at the end of a large seed is slow by design.
    log.filter = "info,sqlx::query=error".into();
    let _telemetry = telemetry::init(&log, &Default::default())?;
    let mut options = SeedOptions::new(args.customers, args.seed);
    if let Some(day) = args.as_of {
        options.as_of = Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN));
    }
    let db = Db::connect_or_create(&args.database_url, PoolOptions::default()).await?;
    let bar = seed::progress_bar(args.customers);
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

pub(crate) fn token(args: TokenArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref(), [])?;
    let jwt = settings
        .auth
        .jwt
        .as_ref()
        .context("no [auth.jwt] in the configuration: nothing to sign tokens with")?;
    known_roles(&settings, &args.roles)?;
    let ttl: Duration = args.ttl;
    println!("{}", auth::mint(jwt, &args.subject, &args.roles, ttl)?);
    Ok(())
}

/// Refuses a role `settings` does not configure: a credential holding only unknown roles
/// would be refused at every call.
fn known_roles(settings: &Settings, roles: &[String]) -> anyhow::Result<()> {
    let configured = &settings.auth.roles;
    if let Some(unknown) = roles.iter().find(|role| !configured.contains_key(*role)) {
        let names: Vec<&str> = configured.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no role {unknown:?} in the configuration (its roles: {}); add [auth.roles.{unknown}] \
             to it first",
            names.join(", ")
        );
    }
    Ok(())
}

pub(crate) fn api_key(
    name: &str,
    roles: &[String],
    config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    known_roles(&Settings::load(config, [])?, roles)?;
    let key = auth::new_api_key();
    println!("key (give it to {name}, keep it nowhere else): {key}");
    println!();
    println!("[[auth.api_keys]]");
    println!("name = {name:?}");
    println!("sha256 = {:?}", auth::api_key_hash(&key));
    println!("roles = {roles:?}");
    Ok(())
}

pub(crate) fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    clap_complete::generate(shell, &mut Cli::command(), "c360", &mut std::io::stdout());
    Ok(())
}

pub(crate) fn man(dir: Option<PathBuf>) -> anyhow::Result<()> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            super::manual::write_pages(&dir)
                .with_context(|| format!("cannot write the pages into {}", dir.display()))?;
        }
        None => super::manual::write_page(&mut std::io::stdout().lock())?,
    }
    Ok(())
}

/// `c360 config check`: the configuration `serve` would read, printed with its secrets
/// hidden; every problem (the error) when it does not hold.
pub(crate) fn check_config(config: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let settings = c360::app::config::Settings::load(config.as_deref(), [])?;
    print!("{}", settings.to_redacted_toml());
    let from = config.map_or_else(
        || "the defaults".to_owned(),
        |file| file.display().to_string(),
    );
    eprintln!("configuration OK ({from}, then C360_<TABLE>__<KEY> variables)");
    Ok(())
}
