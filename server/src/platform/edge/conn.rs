//! Accepted connections, each with a write-stall limit.
//!
//! A response (an SSE stream above all) is written as fast as the client's
//! socket takes it; the HTTP layer then holds at most its bounded send
//! queue. A socket that takes *nothing* for the stall limit while there is
//! something to send is closed: its client is gone, stuck, or hostile, and
//! a browser's `EventSource` reconnects with `Last-Event-ID` if it was only
//! slow. A connection with nothing to send (idle keep-alive) is never timed.
//!
//! [`Peer`] is the connection's info for handlers (`ConnectInfo<Peer>`): the
//! client's address, and a mark the SSE endpoint sets so a closed stream
//! counts in `tickpulse_sse_dropped_total`.

use crate::platform::prometheus::Metrics;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// A TCP listener whose connections close after a write stall.
pub struct StallListener {
    inner: TcpListener,
    stall: Duration,
    metrics: Arc<Metrics>,
}

impl StallListener {
    pub fn new(inner: TcpListener, stall: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            stall,
            metrics,
        }
    }
}

impl Listener for StallListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        self.metrics.connections.inc();
        let conn = Conn {
            stream,
            stall: self.stall,
            blocked: None,
            peer: Peer {
                addr,
                streaming: Arc::new(AtomicBool::new(false)),
            },
            metrics: self.metrics.clone(),
        };
        (conn, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Who is on the other end of a connection.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    streaming: Arc<AtomicBool>,
}

impl Peer {
    /// Marks the connection as carrying an SSE stream.
    pub fn streaming(&self) {
        self.streaming.store(true, Ordering::Relaxed);
    }
}

/// The client's address: the connection's peer, or with `trust_forwarded`
/// the last `X-Forwarded-For` entry (what the nearest proxy saw). `None`
/// for a request that did not come through [`StallListener`] (in-process
/// tests) and carries no usable header.
pub fn client_addr<B>(request: &axum::http::Request<B>, trust_forwarded: bool) -> Option<IpAddr> {
    addr_of(request.headers(), request.extensions(), trust_forwarded)
}

/// [`client_addr`] from a request's parts.
pub fn addr_of(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trust_forwarded: bool,
) -> Option<IpAddr> {
    if trust_forwarded {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .last();
        if forwarded.is_some() {
            return forwarded;
        }
    }
    extensions
        .get::<axum::extract::ConnectInfo<Peer>>()
        .map(|c| c.0.addr.ip())
}

impl Connected<IncomingStream<'_, StallListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, StallListener>) -> Self {
        stream.io().peer.clone()
    }
}

/// A TCP stream that fails a write which could not proceed for the stall
/// limit.
pub struct Conn {
    stream: TcpStream,
    stall: Duration,
    /// Since the socket last refused bytes, while it refuses them.
    blocked: Option<Pin<Box<Sleep>>>,
    peer: Peer,
    metrics: Arc<Metrics>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.metrics.connections.dec();
    }
}

impl Conn {
    /// After a write that returned `Pending`: whether the stall limit ran
    /// out (the timer is armed at the first refusal and re-armed by any
    /// progress).
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let stall = self.stall;
        let timer = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + stall)));
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        if self.peer.streaming.load(Ordering::Relaxed) {
            self.metrics.sse_dropped.inc();
        }
        tracing::debug!(peer = %self.peer.addr, "closing a connection whose socket took nothing");
        true
    }

    fn written<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending if self.stalled(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took nothing for the stall limit",
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.blocked = None;
                ready
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.written(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.written(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.written(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
