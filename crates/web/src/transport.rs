//! The serve loop (hole 9): a client may not hold a connection without sending a request, nor
//! hold a request without sending its body, nor open more connections than the server serves.
//!
//! - Request headers must arrive within `header_read_timeout` of the connection opening or of
//!   the first byte of the next request; a connection that does not send them is closed.
//! - A kept-alive connection waiting for its next request closes after `idle_timeout`. (hyper's
//!   own header timer also runs while a connection waits for its next request, so it cannot
//!   tell the two apart: `ConnIo` keeps both clocks.)
//! - A request body must arrive whole within `body_read_timeout`: `408 request_timeout`.
//! - At most `max_connections` connections are served at once; further ones stay in the
//!   kernel's listen queue until one closes.
//! - On the shutdown signal: no new connection is accepted, each open one finishes the request
//!   it is serving and closes, and `serve` returns once all are closed.

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The transport limits of `partnerhub serve` (docs/accounts.md, "Bounded work").
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` within `transport`'s limits until `shutdown` completes, then
/// drains: answers what is in flight, closes every connection and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let body_timeout = transport.body_read_timeout;
    let app = app.layer(axum::middleware::from_fn(move |req: Request, next: Next| body_deadline(body_timeout, req, next)));
    let permits = Arc::new(Semaphore::new(transport.max_connections.max(1)));
    // Connections watch `signal` to start their graceful shutdown; `serve` waits until every
    // clone of `closed` is dropped.
    let (signal, _) = watch::channel(());
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut signalled = signal.subscribe();
        let closed = closed_rx.clone();
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, remote, app, transport, &mut signalled).await;
            drop(permit);
            drop(closed);
        });
    }
    drop(listener);
    drop(closed_rx);
    let _ = signal.send(());
    closed_tx.closed().await;
    Ok(())
}

async fn serve_connection(stream: TcpStream, remote: SocketAddr, app: Router, transport: Transport, signalled: &mut watch::Receiver<()>) {
    let phase = Arc::new(Mutex::new(ConnState {
        phase: Phase::Waiting { headers_by: Instant::now() + transport.header_read_timeout, idle: false },
        reader: None,
    }));
    let io = TokioIo::new(ConnIo {
        inner: stream,
        phase: phase.clone(),
        transport,
        timer: Box::pin(tokio::time::sleep(transport.header_read_timeout)),
    });
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let busy = Busy::start(phase.clone(), transport);
        let app = app.clone();
        async move {
            let res = app.oneshot(req.map(axum::body::Body::new)).await;
            drop(busy);
            res
        }
    });
    // HTTP/1.1, as `axum::serve` without its `http2` feature served. `ConnIo` times the
    // headers; hyper's own timer would also cut kept-alive connections at the header time.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut signal = pin!(signalled.changed());
    let mut draining = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            _ = &mut signal, if !draining => {
                // Once: the request in flight is answered, then the connection closes.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Where a connection stands, for its read deadline.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request is being answered: the next one's headers must be in by `headers_by`. While
    /// `idle` (nothing of it has arrived yet on a kept-alive connection), the deadline is the
    /// idle one; its first byte starts the header clock.
    Waiting { headers_by: Instant, idle: bool },
    /// This many requests are being answered (one with HTTP/1.1); their bodies are
    /// timed by `body_deadline`, the handlers by nothing here.
    Busy(usize),
}

/// A connection's phase, and the waker of a read left pending while it was busy: that read
/// has no deadline, so the end of the request wakes it to arm the idle one.
struct ConnState {
    phase: Phase,
    reader: Option<Waker>,
}

/// Marks a request in flight; dropped when its response is ready.
struct Busy {
    phase: Arc<Mutex<ConnState>>,
    transport: Transport,
}

impl Busy {
    fn start(phase: Arc<Mutex<ConnState>>, transport: Transport) -> Self {
        if let Ok(mut st) = phase.lock() {
            st.phase = match st.phase {
                Phase::Busy(n) => Phase::Busy(n + 1),
                Phase::Waiting { .. } => Phase::Busy(1),
            };
        }
        Self { phase, transport }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut st) = self.phase.lock() {
            st.phase = match st.phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Waiting { headers_by: Instant::now() + self.transport.idle_timeout, idle: true },
            };
            if let (Phase::Waiting { .. }, Some(w)) = (st.phase, st.reader.take()) {
                w.wake();
            }
        }
    }
}

/// The connection's socket, failing its reads with `TimedOut` once the phase's deadline passes.
struct ConnIo {
    inner: TcpStream,
    phase: Arc<Mutex<ConnState>>,
    transport: Transport,
    timer: Pin<Box<Sleep>>,
}

impl AsyncRead for ConnIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let got_bytes = buf.filled().len() > before;
        let header_timeout = self.transport.header_read_timeout;
        let deadline = match self.phase.lock() {
            Ok(mut st) => match st.phase {
                Phase::Waiting { idle: true, .. } if got_bytes => {
                    // The first byte of the next request: its headers are now on the clock.
                    let headers_by = Instant::now() + header_timeout;
                    st.phase = Phase::Waiting { headers_by, idle: false };
                    Some(headers_by)
                }
                Phase::Waiting { headers_by, .. } => Some(headers_by),
                Phase::Busy(_) => {
                    if res.is_pending() {
                        st.reader = Some(cx.waker().clone());
                    }
                    None
                }
            },
            Err(_) => None,
        };
        if res.is_ready() {
            return res;
        }
        let Some(deadline) = deadline else { return Poll::Pending };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "request headers not received in time"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            // A response still being written (a long export) keeps the connection from idling out.
            let idle = self.transport.idle_timeout;
            if let Ok(mut st) = self.phase.lock()
                && let Phase::Waiting { idle: true, .. } = st.phase
            {
                st.phase = Phase::Waiting { headers_by: Instant::now() + idle, idle: true };
            }
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Reads the whole request body within `limit` of the headers (a total deadline, so a body
/// trickling one byte at a time cannot hold the request), then hands it on: `408` otherwise.
/// Bodies over `BODY_LIMIT` are refused here too (`413`), so no more than that is buffered.
async fn body_deadline(limit: Duration, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, crate::BODY_LIMIT)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                crate::ApiError::TooLarge.into_response()
            } else {
                crate::ApiError::Malformed(format!("the body could not be read: {e}")).into_response()
            }
        }
        Err(_) => crate::ApiError::RequestTimeout.into_response(),
    }
}
