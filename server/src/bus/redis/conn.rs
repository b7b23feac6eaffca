//! How the Redis bus reaches Redis: one instance, or a Redis Cluster through
//! the `redis` crate's cluster client. The rest of the bus sends the same
//! commands either way through a [`Conn`]; the cluster client routes each
//! to the master owning its keys' slot (every key of a partition shares one
//! hash tag, so one script or transaction of a partition is one slot's).
//!
//! # `REDIS_URL`
//! One address (`redis://host:6379/0`) is one instance. A comma-separated
//! list (`redis://a:7000,redis://b:7000`) is a cluster's seed nodes; a
//! cluster reached through one address is named with `REDIS_CLUSTER=true`.

use crate::bus::{BusError, Failure};
use futures::stream::BoxStream;
use futures::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::Mutex;
use std::time::Duration;

/// The bus's name in its errors.
pub(super) const BACKEND: &str = "redis";

/// A Redis error as a bus error of the right kind.
pub(super) fn unavailable(e: redis::RedisError) -> BusError {
    let kind = if e.is_timeout() {
        Failure::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        Failure::Unavailable
    } else if e.kind() == redis::ErrorKind::Parse {
        Failure::Corrupt
    } else {
        // The server answered with an error: the call as it stands.
        Failure::Refused
    };
    BusError::new(BACKEND, kind, e.to_string())
}

/// A connection to one instance or to a cluster, for any command.
#[derive(Clone)]
pub(super) enum Conn {
    One(ConnectionManager),
    Dedicated(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::One(c) => c.req_packed_command(cmd),
            Self::Dedicated(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::One(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::One(c) => c.get_db(),
            Self::Dedicated(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// What the bus is connected to.
enum Server {
    One {
        client: redis::Client,
        shared: ConnectionManager,
    },
    Cluster {
        /// Shared connection: commands answered at once.
        client: ClusterClient,
        /// For blocking reads, which must not hold up the shared one.
        blocking: ClusterClient,
        /// The seed nodes, for subscriptions (each has its own client).
        seeds: Vec<String>,
        shared: tokio::sync::OnceCell<ClusterConnection>,
    },
}

/// The bus's connections: a shared one, a pool of dedicated ones for
/// blocking reads, and subscriptions.
pub(super) struct Connections {
    server: Server,
    timeout: Duration,
    /// Dedicated connections handed back after a blocking read.
    idle: Mutex<Vec<Conn>>,
}

/// How long a blocking read may wait on top of the usual timeout.
const LONGEST_BLOCK: Duration = Duration::from_secs(5);

impl Connections {
    /// Prepares the connections without connecting, so the server can start
    /// (and report "not ready") while Redis is down.
    ///
    /// # Errors
    /// When an address is malformed.
    pub(super) fn new(url: &str, cluster: bool, timeout: Duration) -> Result<Self, BusError> {
        let seeds: Vec<String> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let server = if cluster || seeds.len() > 1 {
            let build = |response: Duration| {
                ClusterClient::builder(seeds.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(response)
                    .retries(2)
                    .build()
                    .map_err(unavailable)
            };
            Server::Cluster {
                client: build(timeout)?,
                blocking: build(timeout + LONGEST_BLOCK)?,
                seeds,
                shared: tokio::sync::OnceCell::new(),
            }
        } else {
            let client = redis::Client::open(url.trim()).map_err(unavailable)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            let shared = ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(unavailable)?;
            Server::One { client, shared }
        };
        Ok(Self {
            server,
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.server, Server::Cluster { .. })
    }

    /// The command that publishes to a channel: `SPUBLISH` on a cluster (the
    /// message goes to the shard owning the channel's slot, not to every
    /// node), `PUBLISH` on one instance (one node is one shard).
    pub(super) fn publish_command(&self) -> &'static str {
        if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// The shared connection (connecting to a cluster on first use).
    pub(super) async fn shared(&self) -> Result<Conn, BusError> {
        match &self.server {
            Server::One { shared, .. } => Ok(Conn::One(shared.clone())),
            Server::Cluster { client, shared, .. } => {
                let conn = self
                    .bounded(shared.get_or_try_init(|| client.get_async_connection()))
                    .await?;
                Ok(Conn::Cluster(conn.clone()))
            }
        }
    }

    /// A connection of its own for a blocking read: one handed back before,
    /// or a new one. Hand it back with [`Connections::give_back`] once the
    /// read answered (a read cut short leaves its connection unusable).
    pub(super) async fn dedicated(&self) -> Result<Conn, BusError> {
        if let Some(conn) = self.idle().pop() {
            return Ok(conn);
        }
        match &self.server {
            Server::One { client, .. } => Ok(Conn::Dedicated(
                self.bounded(client.get_multiplexed_async_connection())
                    .await?,
            )),
            Server::Cluster { blocking, .. } => Ok(Conn::Cluster(
                self.bounded(blocking.get_async_connection()).await?,
            )),
        }
    }

    pub(super) fn give_back(&self, conn: Conn) {
        self.idle().push(conn);
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Messages of `channels` as `(channel, payload)`, in the order each
    /// channel received them. The stream ends when the subscription is lost
    /// (the caller subscribes again and knows it may have missed messages).
    pub(super) async fn subscribe(
        &self,
        channels: Vec<String>,
    ) -> Result<BoxStream<'static, (String, Vec<u8>)>, BusError> {
        match &self.server {
            Server::One { client, .. } => {
                let mut pubsub = self.bounded(client.get_async_pubsub()).await?;
                self.bounded(pubsub.subscribe(&channels)).await?;
                Ok(pubsub
                    .into_on_message()
                    .map(|msg| {
                        (
                            msg.get_channel_name().to_owned(),
                            msg.get_payload_bytes().to_vec(),
                        )
                    })
                    .boxed())
            }
            Server::Cluster { seeds, .. } => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let client = ClusterClient::builder(seeds.iter().map(String::as_str))
                    .connection_timeout(self.timeout)
                    .response_timeout(self.timeout)
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(tx)
                    .build()
                    .map_err(unavailable)?;
                let mut conn = self.bounded(client.get_async_connection()).await?;
                // One command per channel: channels of different slots
                // cannot share one.
                for channel in &channels {
                    self.bounded(conn.ssubscribe(channel)).await?;
                }
                // The connection lives as long as the stream.
                let messages = futures::stream::unfold((rx, conn), |(mut rx, conn)| async move {
                    let push: redis::PushInfo = rx.recv().await?;
                    Some((push, (rx, conn)))
                });
                Ok(messages
                    .take_while(|push| {
                        std::future::ready(push.kind != redis::PushKind::Disconnection)
                    })
                    .filter_map(|push| {
                        std::future::ready(match (push.kind, push.data.as_slice()) {
                            (
                                redis::PushKind::SMessage,
                                [Value::BulkString(channel), Value::BulkString(payload)],
                            ) => Some((
                                String::from_utf8_lossy(channel).into_owned(),
                                payload.clone(),
                            )),
                            _ => None,
                        })
                    })
                    .boxed())
            }
        }
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BusError> {
        bounded(self.timeout, call).await
    }
}

/// Runs one Redis call under `timeout`.
pub(super) async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(BusError::new(
            BACKEND,
            Failure::Timeout,
            format!("no answer within {timeout:?}"),
        )),
    }
}
