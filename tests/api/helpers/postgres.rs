//! A PostgreSQL server of a test's own, for tests that stop or restart it: initialised in a
//! temporary directory (as the `postgres` user when the tests run as root, which `initdb`
//! refuses to be), listening on a free loopback port, and removed when dropped.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub struct TestPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// Server settings beyond the defaults (`-c name=value …`).
    settings: String,
    _dir: tempfile::TempDir,
}

/// The newest installed server's programs.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(
            "these tests need PostgreSQL's server programs in /usr/lib/postgresql; \
             apt-get install postgresql",
        )
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an installed PostgreSQL with initdb")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Runs `program` with `args`, as `postgres` when we are root; panics with its output if it
/// fails.
fn run(program: &Path, args: &[&str]) {
    let mut command = match is_root() {
        true => {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        }
        false => Command::new(program),
    };
    let output = command
        .args(args)
        .output()
        .expect("run a PostgreSQL program");
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestPostgres {
    /// A new server, started.
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// A new server whose changes can be followed by logical decoding.
    pub fn start_logical() -> Self {
        Self::start_with("-c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10")
    }

    /// A new server with `settings` (`-c name=value …`), started.
    pub fn start_with(settings: &str) -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temporary directory");
        if is_root() {
            let chown = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the data directory to postgres");
        }
        let data = dir.path().join("data");
        let port = super::ports::free_port();
        let data_str = data.to_str().expect("utf-8 path");
        run(
            &bin.join("initdb"),
            &["-D", data_str, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        let server = Self {
            bin,
            data,
            port,
            settings: settings.to_owned(),
            _dir: dir,
        };
        server.start_again();
        server
    }

    /// A new server that also speaks TLS, with `cert` and `key` (PEM); plaintext still
    /// works (the seeding uses it).
    pub fn start_with_tls(cert: &str, key: &str) -> Self {
        let server = Self::start();
        server.stop();
        for (name, text) in [("server.crt", cert), ("server.key", key)] {
            let path = server.data.join(name);
            std::fs::write(&path, text).expect("write a TLS file");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
            if is_root() {
                let chown = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&path)
                    .status()
                    .expect("chown");
                assert!(chown.success(), "chown {name} to postgres");
            }
        }
        let conf = server.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).expect("write postgresql.conf");
        server.start_again();
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops it: fast (sessions are disconnected, as in a restart).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    /// Starts it (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=40 {}",
            self.port,
            self.data.display(),
            self.settings
        );
        let log = self.data.join("server.log");
        let log = log.to_str().expect("utf-8 path");
        self.pg_ctl(&["start", "-w", "-o", &options, "-l", log]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data.to_str().expect("utf-8 path");
        let mut all = vec!["-D", data];
        all.extend_from_slice(args);
        run(&self.bin.join("pg_ctl"), &all);
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap_or_default().to_owned();
        let program = self.bin.join("pg_ctl");
        let mut command = match is_root() {
            true => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(&program);
                command
            }
            false => Command::new(&program),
        };
        let _ = command
            .args(["-D", &data, "stop", "-m", "immediate", "-w"])
            .output();
    }
}
