//! Redis for tests: the shared local server under a key prefix of the test's own, or a
//! server of its own to stop and start at will.

use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_PREFIX: AtomicU32 = AtomicU32::new(0);

/// A Redis key prefix no other test (or test run) uses.
pub fn redis_prefix() -> String {
    format!(
        "c360test:{}:{}:{}",
        std::process::id(),
        NEXT_PREFIX.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    )
}

/// The shared local Redis (`C360_TEST_REDIS`, default `redis://127.0.0.1:6379`).
pub fn shared_redis_url() -> String {
    std::env::var("C360_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis server of the test's own, on a free port, to stop and start at will.
pub struct TestRedis {
    pub port: u16,
    process: Option<std::process::Child>,
    /// `--tls-*` arguments: TLS only, on `port`.
    tls: Vec<String>,
}

impl TestRedis {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        let port = super::ports::free_port();
        let mut redis = Self {
            port,
            process: None,
            tls: Vec::new(),
        };
        redis.restart().await;
        redis
    }

    /// One that speaks TLS only, with the certificate and key files given; clients need no
    /// certificate.
    pub async fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let port = super::ports::free_port();
        let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
        let mut redis = Self {
            port,
            process: None,
            tls: vec![
                "--tls-cert-file".into(),
                path(cert),
                "--tls-key-file".into(),
                path(key),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
        };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:port`, or `rediss://` when it speaks TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_empty() {
            "redis"
        } else {
            "rediss"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Stops it, by the pid this test started.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        // With TLS: the TLS port only (`--port 0` turns plaintext off).
        let (port, mut tls) = (self.port.to_string(), self.tls.clone());
        let port = match tls.is_empty() {
            true => port,
            false => {
                tls.extend(["--tls-port".to_owned(), port]);
                "0".to_owned()
            }
        };
        let process = std::process::Command::new("redis-server")
            .args(&tls)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("these tests need redis-server on the PATH: apt-get install redis-server");
        self.process = Some(process);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl TestRedis {
    /// Runs `redis-cli` against it and waits for it to finish.
    pub fn cli(&self, args: &[&str]) {
        let status = self.spawn_cli(args).wait().expect("redis-cli ran");
        assert!(status.success(), "redis-cli {args:?} failed");
    }

    /// Starts `redis-cli` against it, for a command that blocks.
    pub fn spawn_cli(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-cli")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
