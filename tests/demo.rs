//! The demo as a user meets it, through the real binary: its flags, and the README's example
//! commands run against it.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const C360: &str = env!("CARGO_BIN_EXE_c360");

/// `c360` with none of the test run's `C360_` variables (c360 reads them as configuration).
fn c360() -> Command {
    let mut command = Command::new(C360);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("C360_")) {
        command.env_remove(name);
    }
    command
}

/// A running demo; stopped (by its pid) when dropped.
struct Demo {
    process: Child,
    addr: String,
}

impl Demo {
    /// `c360 demo` over `db` on a free port, with `args`; waits for its tour.
    fn start(db: &Path, args: &[&str]) -> Self {
        let mut process = c360()
            .args(["demo", "--listen", "127.0.0.1:0", "--no-metrics", "--db"])
            .arg(db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start c360 demo");
        let stdout = process.stdout.take().expect("its stdout");
        // The tour's first line names the address: "c360 is serving on 127.0.0.1:P (…".
        let (found, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix("c360 is serving on ") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(addr.to_owned());
                }
            }
        });
        let addr = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("the demo serves within 2 minutes");
        Self { process, addr }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Runs `c360 args` against `addr` and returns (success, stdout, stderr).
fn client(addr: &str, args: &[&str]) -> (bool, String, String) {
    let output = c360()
        .args(args)
        .env("C360_ADDR", addr)
        .output()
        .expect("run c360");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn demo_customers_is_refused_for_a_database_that_holds_another_number() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("demo.db");
    let demo = Demo::start(&db, &["--customers", "40"]);
    let (ok, out, err) = client(&demo.addr, &["get", "40", "--sections", "identity"]);
    assert!(ok, "{out}{err}");
    let (ok, _, err) = client(&demo.addr, &["get", "41"]);
    assert!(!ok && err.starts_with("error: NOT_FOUND"), "{err}");
    drop(demo);

    let started = Instant::now();
    let refused = c360()
        .args(["demo", "--listen", "127.0.0.1:0", "--no-metrics", "--db"])
        .arg(&db)
        .args(["--customers", "100"])
        .output()
        .expect("run c360 demo");
    assert!(!refused.status.success());
    assert!(started.elapsed() < Duration::from_secs(60));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("already holds 40 customers: --customers 100 applies to a new database"),
        "{said}"
    );

    // The same number, or none, starts it.
    drop(Demo::start(&db, &["--customers", "40"]));
    drop(Demo::start(&db, &[]));
}
