//! The `c360` command: the server, the seeder, the demo and a client in one binary. The
//! command line is `cli.rs`; serving (and the demo) `serve.rs`; the commands that call a
//! running c360 `calls.rs`; the ones that set it up (seed, credentials, completions, manual
//! pages) `setup.rs`; what help and the manual say beyond the flags `manual.rs`.

mod calls;
mod cli;
mod manual;
mod serve;
mod setup;

use std::process::ExitCode;

use clap::FromArgMatches;

use self::cli::{Cli, Command};

/// jemalloc rather than glibc's allocator: its size classes keep long-lived cache entries
/// apart from the buffers every load frees, which under glibc left 30-40 % more resident per
/// cached profile (README "Memory, by design"; BENCHMARKS.md "Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // The command line with each command's environment, exit status and examples in its help.
    let cli = match Cli::from_arg_matches(&manual::command().get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::new(error)),
    };
    if let Command::Health { server, service } = &cli.command {
        return runtime.block_on(calls::health(server, service));
    }
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// The error on stderr, each of its lines marked, and a failing exit code.
fn fail(error: &anyhow::Error) -> ExitCode {
    for line in format!("{error:#}").lines() {
        eprintln!("error: {line}");
    }
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
            let flags = serve::flags(
                listen,
                database_url,
                metrics_listen,
                unauthenticated_beyond_loopback,
            );
            serve::serve(config, flags).await
        }
        Command::Demo(options) => serve::demo(options).await,
        Command::Config(cli::ConfigCommand::Check { config }) => setup::check_config(config),
        Command::Seed(options) => setup::seed(options).await,
        Command::Token(options) => setup::token(options),
        Command::ApiKey {
            name,
            roles,
            config,
        } => setup::api_key(&name, &roles, config.as_deref()),
        Command::Completions { shell } => setup::completions(shell),
        Command::Man { dir } => setup::man(dir),
        Command::Get {
            id,
            target,
            sections,
        } => calls::get(&id, &target, &sections).await,
        Command::Watch {
            id,
            target,
            sections,
        } => calls::watch(&id, &target, &sections).await,
        Command::Invalidate { ids, server } => calls::invalidate(&ids, &server).await,
        Command::Stats { target } => calls::stats(&target).await,
        Command::Top {
            server,
            interval,
            count,
        } => calls::top(&server, interval, count).await,
        Command::Attention {
            target,
            limit,
            watch,
        } => calls::attention(&target, limit, watch).await,
        Command::Offers {
            id,
            target,
            record,
            kind,
            amount,
            percent,
            request_id,
            approve,
            reject,
        } => {
            let act = calls::offer_act(record.zip(kind), amount, percent, request_id);
            let settle = approve
                .map(|id| (id, true))
                .or(reject.map(|id| (id, false)));
            calls::offers(id.as_deref(), &target, act, settle).await
        }
        Command::Lookup { by, target } => calls::lookup(by, &target).await,
        Command::Search(args) => calls::search(args).await,
        Command::Health { .. } => unreachable!("answered with its own exit codes in main"),
    }
}
