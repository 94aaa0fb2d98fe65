//! A Redis Cluster of the test's own: masters on free ports (and free cluster-bus ports), in
//! a directory of their own, made into one cluster by `redis-cli --cluster create`; a master
//! can be killed and started again on its port, with its node file, so it rejoins as itself.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::ports::free_port;

/// One master: its client port, its cluster-bus port, and its process while it runs.
struct Node {
    port: u16,
    bus: u16,
    process: Option<Child>,
}

pub struct TestRedisCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl TestRedisCluster {
    /// `masters` masters without replicas, serving every slot, ready.
    pub async fn start(masters: usize) -> Self {
        let mut cluster = Self::unstarted(masters);
        cluster.create().await;
        cluster
    }

    /// The ports of `masters` masters, none of them started yet.
    pub fn unstarted(masters: usize) -> Self {
        Self {
            nodes: (0..masters)
                .map(|_| Node {
                    port: free_port(),
                    bus: free_port(),
                    process: None,
                })
                .collect(),
            dir: tempfile::tempdir().expect("a directory for the cluster"),
        }
    }

    /// Starts the masters and makes them one cluster.
    pub async fn create(&mut self) {
        for node in 0..self.nodes.len() {
            self.run(node).await;
        }
        let addresses: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("these tests need redis-cli on the PATH: apt-get install redis-server");
        assert!(created.success(), "redis-cli --cluster create failed");
        self.until_ok().await;
    }

    /// `redis://127.0.0.1:port` of every master.
    pub fn urls(&self) -> Vec<String> {
        let url = |n: &Node| format!("redis://127.0.0.1:{}", n.port);
        self.nodes.iter().map(url).collect()
    }

    /// Kills master `node` (SIGKILL, by the pid this test started).
    pub fn kill(&mut self, node: usize) {
        if let Some(mut process) = self.nodes[node].process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts master `node` again (empty: nothing is kept on disk but its node file), and
    /// waits until the cluster is whole.
    pub async fn restart(&mut self, node: usize) {
        self.kill(node);
        self.run(node).await;
        self.until_ok().await;
    }

    async fn run(&mut self, node: usize) {
        let Node { port, bus, .. } = self.nodes[node];
        let config = self.dir.path().join(format!("nodes-{port}.conf"));
        let process = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--cluster-port", &bus.to_string()])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", config.to_str().expect("utf-8")])
            .args(["--cluster-node-timeout", "1000"])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.path().to_str().expect("utf-8")])
            .stdout(Stdio::null())
            .spawn()
            .expect("these tests need redis-server on the PATH: apt-get install redis-server");
        self.nodes[node].process = Some(process);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {port}");
    }

    /// What `redis-cli` printed for `args` on master `node`.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.nodes[node].port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Moves `slots` slots, with their keys, from master `from` to master `to`, as an
    /// operator rebalancing the cluster would.
    pub fn reshard(&self, from: usize, to: usize, slots: u32) {
        let id = |node| self.cli(node, &["CLUSTER", "MYID"]).trim().to_owned();
        let moved = Command::new("redis-cli")
            .args(["--cluster", "reshard"])
            .arg(format!("127.0.0.1:{}", self.nodes[from].port))
            .args(["--cluster-from", &id(from), "--cluster-to", &id(to)])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(moved.success(), "redis-cli --cluster reshard failed");
    }

    /// The keys under `prefix` on master `node`.
    pub fn keys(&self, node: usize, prefix: &str) -> usize {
        let pattern = format!("{prefix}:*");
        self.cli(node, &["--scan", "--pattern", &pattern])
            .lines()
            .filter(|l| !l.is_empty())
            .count()
    }

    /// How many masters run.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Waits until every running master says the cluster is whole.
    async fn until_ok(&self) {
        for _ in 0..200 {
            let running = (0..self.nodes.len()).filter(|n| self.nodes[*n].process.is_some());
            let whole = running
                .map(|n| self.cli(n, &["CLUSTER", "INFO"]))
                .all(|info| info.contains("cluster_state:ok"));
            if whole {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the Redis cluster did not become whole within 20 s");
    }
}

impl Drop for TestRedisCluster {
    fn drop(&mut self) {
        for node in 0..self.nodes.len() {
            self.kill(node);
        }
    }
}
