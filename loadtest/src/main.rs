//! `c360-loadtest`: see the crate's documentation and `--help`.

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use c360_loadtest::{
    baseline, chart,
    faultproxy::{FaultProxy, Mode},
    options::{Cli, Command, Format},
    probe,
    report::Report,
    run, watch,
};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli.run.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::BaselineServer { bytes, listen }) => baseline::serve(bytes, listen).await,
        Some(Command::FaultProxy {
            listen,
            to,
            stall_from,
            stall_for,
            run_for,
        }) => {
            let proxy = FaultProxy::listen(listen, to).await?;
            eprintln!("fault proxy on {} to {to}", proxy.addr());
            let started = tokio::time::Instant::now();
            tokio::time::sleep_until(started + stall_from).await;
            proxy.set(Mode::Stall);
            eprintln!("stalled");
            tokio::time::sleep_until(started + stall_from + stall_for).await;
            proxy.set(Mode::Pass);
            eprintln!("passing again");
            tokio::time::sleep_until(started + run_for).await;
            Ok(())
        }
        Some(Command::Probe {
            samples,
            ids,
            target,
        }) => {
            let target = with_scheme(target);
            println!(
                "{}",
                probe::probe(&target, samples, ids)
                    .await
                    .map_err(anyhow::Error::msg)?
            );
            Ok(())
        }
        Some(Command::Watch {
            watchers,
            connections,
            ids,
            seconds,
            target,
        }) => {
            let target = with_scheme(target);
            let said = watch::watch(&target, watchers, connections, ids, seconds)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{said}");
            Ok(())
        }
        Some(Command::Chart { reports, output }) => {
            let reports = reports
                .iter()
                .map(|path| {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    let mut report = serde_json::from_str::<Report>(&text).map_err(|e| {
                        anyhow::anyhow!("{} is not a JSON report: {e}", path.display())
                    })?;
                    // A run without a name is labelled by its file.
                    if report.name.is_empty()
                        && let Some(stem) = path.file_stem()
                    {
                        report.name = stem.to_string_lossy().into_owned();
                    }
                    Ok(report)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            std::fs::write(&output, chart::svg(&reports).map_err(anyhow::Error::msg)?)?;
            Ok(())
        }
        None => load(cli.run).await,
    }
}

/// `target` as a URL: `http://` added to a bare `host:port`.
fn with_scheme(target: String) -> String {
    if target.contains("://") {
        target
    } else {
        format!("http://{target}")
    }
}

async fn load(args: c360_loadtest::options::RunArgs) -> anyhow::Result<()> {
    let plan = args.plan().map_err(anyhow::Error::msg)?;
    let progress = match plan.total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed}] {wide_bar} {human_pos}/{human_len} {per_sec}",
    ) {
        progress.set_style(style);
    }
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let stop = stop.clone();
        async move {
            // Ctrl-C ends the run early; what was measured is still reported.
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    let result = run::run(&plan, &progress, stop)
        .await
        .map_err(anyhow::Error::msg)?;
    progress.finish_and_clear();
    let report = Report::new(&plan, result);
    if let Some(svg) = &args.svg {
        std::fs::write(
            svg,
            chart::svg(std::slice::from_ref(&report)).map_err(anyhow::Error::msg)?,
        )?;
    }
    let text = match args.format {
        Format::Summary => report.summary(),
        Format::Json => report.json(),
        Format::Csv => report.csv(),
        Format::Html => {
            report.html(&chart::svg(std::slice::from_ref(&report)).map_err(anyhow::Error::msg)?)
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)?,
        None => println!("{text}"),
    }
    let rate = report.error_rate();
    if rate > plan.max_error_rate {
        let errors = report.errors();
        anyhow::bail!(
            "{errors} of {} calls failed ({:.1} %), more than --max-error-rate {} allows{}",
            report.count,
            rate * 100.0,
            plan.max_error_rate,
            report
                .error_distribution
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(error, n)| format!("; the most frequent ({n}): {error}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
