//! The agent's console: the page c360 serves, its headers, and the agent's whole flow in a
//! real browser (Debian's Chromium, driven by `console/e2e/agent.mjs` with playwright-core,
//! both installed by `scripts/test`) against c360 over seeded Postgres.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use c360::{core::db::Bind, edge::auth::RoleSettings};
use c360_loadtest::faultproxy::{FaultProxy, Mode};

use crate::{
    auth::{protect, token_for},
    browser::{grpc_web_get, http1},
    helpers::{Backend, TestDatabase, spawn_app_with, spawn_replica, through},
};

fn get(path: &str, addr: std::net::SocketAddr, method: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
}

#[tokio::test]
async fn the_console_is_served_with_its_security_headers_only_when_switched_on() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.server.console = true).await;
    let (headers, body) = http1(app.addr, &get("/", app.addr, "GET"), &[]).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    for header in [
        "content-security-policy: default-src 'none'; script-src 'self';",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
    ] {
        assert!(headers.contains(header), "{header} not in {headers}");
    }
    assert!(String::from_utf8_lossy(&body).contains("<title>c360 console</title>"));
    let (headers, body) = http1(app.addr, &get("/assets/console.js", app.addr, "GET"), &[]).await;
    assert!(
        headers.contains("content-type: text/javascript"),
        "{headers}"
    );
    assert!(body.len() > 10_000);
    let (headers, body) = http1(app.addr, &get("/assets/console.js", app.addr, "HEAD"), &[]).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(body.is_empty());
    let (headers, _) = http1(app.addr, &get("/.env", app.addr, "GET"), &[]).await;
    assert!(headers.starts_with("http/1.1 404"), "{headers}");
    assert!(headers.contains("x-frame-options: deny"), "{headers}");

    // The page's own origin may call; another still may not.
    let (head, frame) = grpc_web_get(&app, &format!("http://127.0.0.1:{}", app.addr.port()));
    let (headers, _) = http1(app.addr, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: application/grpc-web"),
        "{headers}"
    );
    let (head, frame) = grpc_web_get(&app, "http://evil.example.net");
    let (headers, _) = http1(app.addr, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 403"), "{headers}");

    // Off (the default in `serve`): no page, and the page's origin is not let in.
    let off = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let (_, body) = http1(off.addr, &get("/", off.addr, "GET"), &[]).await;
    assert!(!String::from_utf8_lossy(&body).contains("c360 console"));
    let (head, frame) = grpc_web_get(&off, &format!("http://127.0.0.1:{}", off.addr.port()));
    let (headers, _) = http1(off.addr, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 403"), "{headers}");
}

/// The console's folder.
fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// Where the browser test leaves its screenshots.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_finds_works_and_follows_customers_in_a_real_browser() {
    browser_ready();
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let (_, target) = through(&database.url, "127.0.0.1:1".parse().unwrap());
    let proxy = FaultProxy::start(target).await.expect("start the proxy");
    let (billing_url, _) = through(&database.url, proxy.addr());
    let app = spawn_replica(database, |s| {
        s.server.console = true;
        s.attention.enabled = true;
        s.search.enabled = true;
        // Short enough that the lease's warning comes within the test.
        s.attention.lease = Duration::from_secs(35);
        s.sources.billing.url = Some(billing_url);
        s.sources.billing.timeout = Duration::from_millis(300);
    })
    .await;

    // What the flow needs: a phone two customers share, a late parcel (200 days late:
    // first in the queue), customers to open, and one nobody has read yet.
    let (shared, sharing) = app.shared_phone().await;
    // "+44 20 7946 0018" written "0044 (20) 7946-0018".
    let digits = shared.trim_start_matches('+');
    let phone = format!(
        "00{} ({}) {}-{}",
        &digits[..2],
        &digits[2..4],
        &digits[4..8],
        &digits[8..]
    );
    let late = 7;
    let promised = chrono::Utc::now() - chrono::Duration::days(200);
    app.db
        .execute(
            "INSERT INTO shipments (id, order_id, customer_id, carrier, tracking_number, status, \
             promised_at, created_at) VALUES (990101, 1, $1, 'DHL', 'LATE', 'in_transit', $2, $3)",
            &[
                Bind::Int(late),
                Bind::Time(promised),
                Bind::Time(promised - chrono::Duration::days(2)),
            ],
        )
        .await
        .unwrap();
    // A chat of long ago about that parcel, for the history's search.
    app.conversation(
        990_201,
        late,
        &["My parcel DH9900101 has not come, नहीं आया"],
    )
    .await;
    let plan = serde_json::json!({
        "url": format!("http://127.0.0.1:{}/", app.addr.port()),
        "phone": phone,
        "sharing": sharing,
        "customer": 3,
        "late": late,
        "newName": "Renamed",
        "unread": 44,
        "screenshots": screenshots(),
    });

    let figures = run_script("agent.mjs", &plan, async |step| match step {
        "rename" => app.rename(late, "Renamed").await,
        "drop-watches" => app.profiles.close_watches(),
        "stop-billing" => proxy.set(Mode::Stall),
        other => panic!("no step {other}"),
    })
    .await;
    proxy.set(Mode::Pass);
    let figures = figures.expect("the flow reports its figures");
    println!("console figures: {figures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_the_console_asks_for_a_token_and_shows_what_the_role_reads() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        protect(s);
        s.server.console = true;
        // Neither the queue (off in tests' settings) nor offers: the page must say so.
        s.offers.enabled = false;
        s.auth.roles.insert(
            "trainee".into(),
            RoleSettings {
                rpcs: vec!["CustomerService/*".into(), "CatalogService/*".into()],
                sections: ["identity", "orders", "shipments", "interactions"]
                    .map(String::from)
                    .to_vec(),
                hide: Vec::new(),
                bypass_cache: false,
                max_age_floor: None,
            },
        );
    })
    .await;
    let plan = serde_json::json!({
        "url": format!("http://127.0.0.1:{}/", app.addr.port()),
        "token": token_for("tina", &["trainee"], 600),
        "adminToken": token_for("ada", &["admin"], 600),
        "customer": 5,
        "denied": ["billing", "insights"],
        "screenshots": screenshots(),
    });
    run_script("signed.mjs", &plan, async |step| panic!("no step {step}")).await;
}

/// Runs `console/e2e/<script>` with `plan`, answering each of its steps by `on_step`; fails
/// unless it succeeds. What it reports (its `RESULT` line), if anything.
async fn run_script(
    script: &str,
    plan: &serde_json::Value,
    mut on_step: impl AsyncFnMut(&str),
) -> Option<String> {
    let chromium = browser_ready();
    let mut agent = Command::new("node")
        .arg(console_dir().join("e2e").join(script))
        .arg(plan.to_string())
        .env("CHROMIUM", &chromium)
        .current_dir(console_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (scripts/test checks it is installed)");
    let mut to_agent = agent.stdin.take().unwrap();
    let (said, from_agent) = std::sync::mpsc::channel();
    let stdout = agent.stdout.take().unwrap();
    let script = script.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{script}: {line}");
            if said.send(line).is_err() {
                return;
            }
        }
    });
    let mut result = None;
    // The script's whole run is bounded: a browser that hangs fails the test.
    while let Ok(line) =
        tokio::task::block_in_place(|| from_agent.recv_timeout(Duration::from_secs(120)))
    {
        if let Some(step) = line.strip_prefix("STEP ") {
            on_step(step).await;
            writeln!(to_agent, "GO").unwrap();
        } else if let Some(figures) = line.strip_prefix("RESULT ") {
            result = Some(figures.to_owned());
        }
    }
    let _ = agent.kill();
    let status = agent.wait().unwrap();
    assert!(status.success(), "the browser flow failed: {status}");
    result
}

/// Debian's Chromium, and playwright-core beside the console: both installed by
/// `scripts/test`.
fn browser_ready() -> String {
    let node_modules = console_dir().join("node_modules/playwright-core");
    assert!(
        node_modules.exists(),
        "{} is missing: scripts/test installs the console's packages (npm ci in console/)",
        node_modules.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/test installs it (apt-get install chromium)"
    );
    chromium
}
