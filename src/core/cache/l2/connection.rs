//! Where L2's commands go: one Redis, through a pool, or a Redis Cluster, through the
//! cluster client's one multiplexed connection per node, which follows the slots as they move
//! (`MOVED`, `ASK`) and reconnects to a node that comes back. Either way a failure is an
//! error to count, never a wait: the caller bounds every call by its timeout.
//!
//! The bus's subscriptions are plain pub/sub connections to one node: on a cluster, a
//! `PUBLISH` reaches every node's subscribers, so any node will do, and the bus moves to the
//! next configured node when its own goes away.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use deadpool_redis::{
    Manager, Pool, Runtime, Timeouts,
    redis::{
        self, FromRedisValue,
        aio::PubSub,
        cluster::ClusterClientBuilder,
        cluster_async::ClusterConnection,
        cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
    },
};

use super::{L2Error, RedisSettings};

/// The connections of one Redis or of a cluster.
pub(super) enum Connections {
    /// One Redis: a pool, and a client for subscriptions.
    Single { pool: Pool, client: redis::Client },
    /// A cluster: its client's connection, and a client of each configured node for
    /// subscriptions, tried in turn.
    Cluster {
        connection: ClusterConnection,
        nodes: Vec<redis::Client>,
        next: AtomicUsize,
    },
}

/// A client of the Redis at `url`: over TLS for a `rediss://` URL, trusting `ca` if given.
fn client(url: &str, ca: Option<&[u8]>) -> Result<redis::Client, L2Error> {
    let client = match ca {
        None => redis::Client::open(url),
        Some(ca) => redis::Client::build_with_tls(url, certificates(ca)),
    };
    client.map_err(|e| L2Error::Invalid(e.to_string()))
}

fn certificates(ca: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.to_vec()),
    }
}

fn invalid(error: &dyn std::fmt::Display) -> L2Error {
    L2Error::Invalid(error.to_string())
}

impl Connections {
    /// Connections to the Redis or the cluster of `settings` (one of them is set), trusting
    /// `ca`; nothing connects until first used.
    pub(super) fn new(settings: &RedisSettings, ca: Option<&[u8]>) -> Result<Self, L2Error> {
        match &settings.url {
            Some(url) => Self::single(url, ca, settings.timeout),
            None => Self::cluster(&settings.cluster_urls, ca, settings.timeout),
        }
    }

    fn single(url: &str, ca: Option<&[u8]>, timeout: Duration) -> Result<Self, L2Error> {
        let client = client(url, ca)?;
        // From the client's connection information, which carries its TLS roots
        // (deadpool's own configuration would drop them).
        let manager =
            Manager::new(client.get_connection_info().clone()).map_err(|e| invalid(&e))?;
        let pool = Pool::builder(manager)
            .max_size(32)
            .timeouts(Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| invalid(&e))?;
        Ok(Self::Single { pool, client })
    }

    fn cluster(urls: &[String], ca: Option<&[u8]>, timeout: Duration) -> Result<Self, L2Error> {
        let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
            // A node that does not answer is a miss now, not a retry later: the caller has
            // given up by then.
            .retries(1)
            .min_retry_wait(timeout.as_millis().try_into().unwrap_or(u64::MAX))
            .max_retry_wait(timeout.as_millis().try_into().unwrap_or(u64::MAX))
            .connection_timeout(timeout.max(Duration::from_millis(250)))
            .response_timeout(timeout.max(Duration::from_millis(250)));
        if let Some(ca) = ca {
            builder = builder.certs(certificates(ca));
        }
        let cluster = builder.build().map_err(|e| invalid(&e))?;
        let config = redis::cluster::ClusterConfig::new();
        let connection = cluster.get_pending_async_connection_with_config(config);
        let nodes = urls
            .iter()
            .map(|url| client(url, ca))
            .collect::<Result<_, _>>()?;
        Ok(Self::Cluster {
            connection,
            nodes,
            next: AtomicUsize::new(rand::random_range(0..urls.len().max(1))),
        })
    }

    /// Whether these are a cluster's.
    pub(super) fn cluster_mode(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// Runs `command` where its keys are.
    pub(super) async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, String> {
        let answer = match self {
            Self::Single { pool, .. } => {
                let mut connection = pool.get().await.map_err(|e| e.to_string())?;
                command.query_async(&mut *connection).await
            }
            Self::Cluster { connection, .. } => command.query_async(&mut connection.clone()).await,
        };
        answer.map_err(|e| e.to_string())
    }

    /// Runs `pipe`, whose keys share a slot on a cluster.
    pub(super) async fn run(&self, pipe: &redis::Pipeline) -> Result<(), String> {
        let answer = match self {
            Self::Single { pool, .. } => {
                let mut connection = pool.get().await.map_err(|e| e.to_string())?;
                pipe.query_async::<()>(&mut *connection).await
            }
            Self::Cluster { connection, .. } => pipe.query_async(&mut connection.clone()).await,
        };
        answer.map_err(|e| e.to_string())
    }

    /// A subscription connection: to the one Redis, or to the next node of the cluster that
    /// answers.
    pub(super) async fn pubsub(&self) -> redis::RedisResult<PubSub> {
        match self {
            Self::Single { client, .. } => client.get_async_pubsub().await,
            Self::Cluster { nodes, next, .. } => {
                let node = next.fetch_add(1, Ordering::Relaxed) % nodes.len();
                nodes[node].get_async_pubsub().await
            }
        }
    }

    /// The cluster's masters, as `host:port`; none for one Redis.
    pub(super) async fn masters(&self) -> Result<Vec<(String, u16)>, String> {
        if !self.cluster_mode() {
            return Ok(Vec::new());
        }
        let mut nodes = redis::cmd("CLUSTER");
        nodes.arg("NODES");
        let text: String = self.query(&nodes).await?;
        Ok(parse_masters(&text))
    }

    /// Runs `command` on the node at `node`, or (with none) on the one Redis.
    pub(super) async fn query_on<T: FromRedisValue>(
        &self,
        node: Option<&(String, u16)>,
        command: redis::Cmd,
    ) -> Result<T, String> {
        match (self, node) {
            (Self::Cluster { connection, .. }, Some((host, port))) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = connection
                    .clone()
                    .route_command(command, route)
                    .await
                    .map_err(|e| e.to_string())?;
                redis::from_redis_value(value).map_err(|e| e.to_string())
            }
            _ => self.query(&command).await,
        }
    }
}

/// The masters serving slots in a `CLUSTER NODES` answer: lines of `id host:port@bus[,hostname]
/// flags master ping pong epoch link slot…`, their flags holding `master` and not `fail`.
fn parse_masters(text: &str) -> Vec<(String, u16)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, flags) = (fields.get(1)?, fields.get(2)?);
            let flag = |name| flags.split(',').any(|f| f == name);
            if !flag("master") || flag("fail") || fields.len() < 9 {
                return None;
            }
            let (host, port) = address.split(['@', ',']).next()?.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .filter(|(host, port)| !host.is_empty() && *port != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_are_read_from_cluster_nodes() {
        let text = "\
07c3 127.0.0.1:30004@40004 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:30002@40002,redis-b.internal master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master,fail - 1426238318243 1426238316232 3 disconnected
3a1b 127.0.0.1:30006@40006 master,fail? - 1426238318243 1426238316232 4 connected 10923-16383
5b2c 127.0.0.1:30007@40007 master - 0 0 5 connected
6ec2 127.0.0.1:30005@40005 slave 67ed 0 1426238316232 2 connected
e7d1 :0@0 master,noaddr - 0 0 0 disconnected
";
        assert_eq!(
            parse_masters(text),
            [
                ("127.0.0.1".to_owned(), 30004),
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30006),
            ]
        );
    }
}
