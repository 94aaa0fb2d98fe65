//! The commands that call a running c360 over gRPC: `get`, `watch`, `invalidate`, `stats`,
//! `top`, `attention`, `offers`, `lookup`, `health`. Each prints what `c360::tools::client` renders.

use std::{io::IsTerminal, time::Duration};

use c360::tools::client::{self, Format, LookupBy, offers::OfferAct};

use super::{
    cli::{Connection, LookupArgs, SearchArgs, Target},
    serve::shutdown_signal,
};

/// `text`, ending with a newline.
fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

pub(crate) async fn get(id: &str, target: &Target, sections: &[String]) -> anyhow::Result<()> {
    let text = client::get(&target.server.server()?, id, sections, target.format()).await?;
    print!("{}", with_newline(text));
    Ok(())
}

pub(crate) async fn watch(id: &str, target: &Target, sections: &[String]) -> anyhow::Result<()> {
    let format = target.format();
    let server = target.server.server()?;
    let mut first = true;
    let stream = client::watch(&server, id, sections, format, |text| {
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

pub(crate) async fn invalidate(ids: &[String], server: &Connection) -> anyhow::Result<()> {
    println!("{}", client::invalidate(&server.server()?, ids).await?);
    Ok(())
}

pub(crate) async fn stats(target: &Target) -> anyhow::Result<()> {
    let text = client::stats(&target.server.server()?, target.format()).await?;
    print!("{}", with_newline(text));
    Ok(())
}

pub(crate) async fn top(
    server: &Connection,
    interval: Duration,
    count: Option<u64>,
) -> anyhow::Result<()> {
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

pub(crate) async fn attention(target: &Target, limit: i32, watch: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=1000).contains(&limit),
        "--limit must be from 1 to 1000"
    );
    let (server, format) = (target.server.server()?, target.format());
    if !watch {
        print!(
            "{}",
            with_newline(client::attention::list(&server, limit, format).await?)
        );
        return Ok(());
    }
    let follow = client::attention::watch(&server, format, |text| print!("{}", with_newline(text)));
    tokio::select! {
        result = follow => result?,
        () = shutdown_signal() => {}
    }
    Ok(())
}

/// What `c360 offers` does for a customer: record an offer (`--record PROBLEM --kind KIND`),
/// or print the envelope.
pub(crate) fn offer_act(
    record: Option<(String, String)>,
    amount: Option<String>,
    percent: Option<u32>,
    request_id: Option<String>,
) -> OfferAct {
    match record {
        Some((problem, kind)) => OfferAct::Record {
            problem,
            kind,
            amount,
            percent,
            request_id,
        },
        None => OfferAct::Envelope,
    }
}

pub(crate) async fn offers(
    id: Option<&str>,
    target: &Target,
    act: OfferAct,
    settle: Option<(String, bool)>,
) -> anyhow::Result<()> {
    let (server, format) = (target.server.server()?, target.format());
    let text = match (settle, id) {
        (Some((offer, approve)), _) => {
            client::offers::settle(&server, &offer, approve, format).await?
        }
        (None, Some(id)) => client::offers::offers(&server, id, act, format).await?,
        (None, None) => anyhow::bail!("give a customer id, or --approve or --reject an offer"),
    };
    print!("{}", with_newline(text));
    Ok(())
}

pub(crate) async fn lookup(by: LookupArgs, target: &Target) -> anyhow::Result<()> {
    let by = match (by.email, by.phone, by.order) {
        (Some(email), _, _) => LookupBy::Email(email),
        (_, Some(phone), _) => LookupBy::Phone(phone),
        (_, _, Some(order)) => LookupBy::Order(order),
        _ => anyhow::bail!("give one of --email, --phone or --order"),
    };
    let found = client::lookup(&target.server.server()?, by, target.format()).await?;
    print!("{}", with_newline(found.text));
    // As grep: no match is not an error, but a script can tell it apart.
    if found.matches == 0 {
        return Err(NoMatch.into());
    }
    Ok(())
}

pub(crate) async fn search(args: SearchArgs) -> anyhow::Result<()> {
    // With --all the one argument given is the query.
    let (customer, query) = match args.all {
        true => (None, args.id.unwrap_or_default()),
        false => (args.id, args.query.unwrap_or_default()),
    };
    let asked = client::history::Asked {
        customer,
        query,
        channels: args.channels,
        after: args.after,
        before: args.before,
        limit: args.limit,
    };
    let target = &args.target;
    let text = client::history::search(&target.server.server()?, asked, target.format()).await?;
    print!("{}", with_newline(text));
    Ok(())
}

/// `c360 lookup` found no customer: exit 1, after printing that it found none.
#[derive(Debug, thiserror::Error)]
#[error("no customer matches")]
pub(crate) struct NoMatch;

/// `c360 health`: what it found on one line (stdout when serving, stderr otherwise) and
/// grpc_health_probe's exit code.
pub(crate) async fn health(server: &Connection, service: &str) -> std::process::ExitCode {
    let probed = match server.server() {
        Ok(server) => client::probe(&server, service).await,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::from(1);
        }
    };
    match probed {
        client::Probed::Serving => println!("{}", probed.line(service)),
        _ => eprintln!("{}", probed.line(service)),
    }
    std::process::ExitCode::from(probed.exit_code())
}
