//! The HTTP/1.1 server loop under both routers (API and gateway), with the bounds a server
//! facing untrusted clients needs (issue 14):
//!
//! - **a connection cap**: a semaphore taken before `accept`; at the cap, new connections wait
//!   in the kernel's backlog until one ends (as mini-redis does), so idle sockets cannot grow
//!   the node's memory without limit;
//! - **a header-read timeout** (hyper's, with a tokio timer): from the moment the server waits
//!   for a request (a new connection, or a kept-alive one after its last response), the whole
//!   request head must arrive within it, else the connection is closed. This is also the
//!   keep-alive wait between requests;
//! - **an idle timeout**: a connection on which no byte moves either way for that long while
//!   no handler is working on one of its requests is closed (a client that stopped reading a
//!   download, or sends a body one byte a minute). A handler that waits on purpose (a deal
//!   `wait_secs`, a slow database) keeps its connection.
//!
//! Invariants: at most `max_connections` connections are served at once per server; every
//! connection task is owned by the server's `JoinSet` (ended at graceful shutdown, aborted if
//! the server future is dropped); at shutdown the server stops accepting, lets each connection
//! finish its current response, and returns once all have ended.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower_service::Service as _;

/// The bounds of one HTTP server (`[api.limits]`, `[gateway.limits]` in `config.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time allowed for a whole request head, counted from when the server starts waiting for
    /// it (also the keep-alive wait between requests).
    #[serde(with = "crate::units::duration_text")]
    pub header_read_timeout: Duration,
    /// A connection with no byte moving either way for this long, and no handler busy with
    /// one of its requests, is closed.
    #[serde(with = "crate::units::duration_text")]
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

impl HttpLimits {
    pub fn is_default(&self) -> bool {
        *self == HttpLimits::default()
    }

    /// Refuses limits that would leave a server unusable.
    pub fn check(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        if self.header_read_timeout.is_zero() || self.idle_timeout.is_zero() {
            return Err("header_read_timeout and idle_timeout must be above zero".into());
        }
        Ok(())
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then finishes
/// the responses in progress and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = HttpLimits {
        max_connections: limits.max_connections.max(1),
        ..limits
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap ended connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: not fatal.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Without TCP_NODELAY, a small response written in two parts waits on the client's
        // delayed ACK (about 40 ms on Linux) before its second part leaves.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let activity = Activity::new();
        let io = TokioIo::new(Watched {
            inner: tcp,
            activity: activity.clone(),
        });
        let service = Handlers {
            router: router.clone(),
            activity: activity.clone(),
        };
        let conn = graceful.watch(builder.serve_connection(io, service));
        let idle = limits.idle_timeout;
        connections.spawn(async move {
            tokio::select! {
                result = conn => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                }
                _ = activity.idle_for(idle) => {
                    tracing::debug!(?idle, "closing an idle HTTP connection");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What the idle watchdog of one connection reads: when a byte last moved, and how many
/// handlers are working on its requests.
#[derive(Clone)]
struct Activity(Arc<ActivityInner>);

struct ActivityInner {
    start: tokio::time::Instant,
    /// Milliseconds from `start` to the last byte read or written.
    last: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity(Arc::new(ActivityInner {
            start: tokio::time::Instant::now(),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }))
    }

    fn touch(&self) {
        let ms = self.0.start.elapsed().as_millis() as u64;
        self.0.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> tokio::time::Instant {
        self.0.start + Duration::from_millis(self.0.last.load(Ordering::Relaxed))
    }

    /// Resolves once nothing moved for `idle` while no handler was busy.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            tokio::time::sleep_until(deadline).await;
            if self.0.busy.load(Ordering::Relaxed) > 0 {
                // A handler is working: look again one period later.
                self.touch();
                continue;
            }
            if self.last() + idle <= tokio::time::Instant::now() {
                return;
            }
        }
    }
}

/// Marks a handler busy until dropped (its response head is ready, or it was cancelled).
struct Busy(Activity);

impl Busy {
    fn new(activity: Activity) -> Self {
        activity.0.busy.fetch_add(1, Ordering::Relaxed);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0 .0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The router as a hyper service, marking each handler busy while it runs. A request with a
/// body that is refused (4xx or 5xx, often before its body was read) is answered with
/// `Connection: close`: hyper drops such a connection after the response, and a client told
/// so does not send its next request on a connection that is going away.
#[derive(Clone)]
struct Handlers {
    router: Router,
    activity: Activity,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Handlers {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let mut router = self.router.clone();
        let busy = Busy::new(self.activity.clone());
        let has_body = !hyper::body::Body::is_end_stream(request.body());
        Box::pin(async move {
            let mut response = router.call(request.map(axum::body::Body::new)).await;
            drop(busy);
            if let Ok(response) = &mut response {
                let status = response.status();
                if has_body && (status.is_client_error() || status.is_server_error()) {
                    response.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        axum::http::HeaderValue::from_static("close"),
                    );
                }
            }
            response
        })
    }
}

/// A TCP stream that records when bytes last moved.
struct Watched {
    inner: tokio::net::TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(max: usize) -> HttpLimits {
        HttpLimits {
            max_connections: max,
            header_read_timeout: Duration::from_millis(400),
            idle_timeout: Duration::from_millis(400),
        }
    }

    async fn start(
        limits: HttpLimits,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, router, limits, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (addr, stop, task)
    }

    async fn honest_get(addr: std::net::SocketAddr) -> String {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Reads until the server closes the connection; its bytes (empty for an idle close).
    async fn until_closed(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out).await;
        out
    }

    #[tokio::test]
    async fn idle_and_half_open_connections_past_the_cap_do_not_keep_an_honest_client_out() {
        let (addr, stop, task) = start(limits(8)).await;
        // 8 silent sockets and 8 that send half a request head: twice the cap.
        let mut held = Vec::new();
        for i in 0..16 {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            if i % 2 == 1 {
                tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
                    .await
                    .unwrap();
            }
            held.push(tcp);
        }
        let started = tokio::time::Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), honest_get(addr))
            .await
            .expect("the honest request was answered within 5 s");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
        // It had to wait for the held ones to be timed out: at least one header timeout.
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Every held connection was closed by the server, none answered.
        for tcp in &mut held {
            let bytes = tokio::time::timeout(Duration::from_secs(5), until_closed(tcp))
                .await
                .expect("the server closed the held connection");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("200 OK"), "{text}");
        }
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_kept_alive_connection_is_closed_after_the_idle_wait_and_served_before_it() {
        let (addr, stop, task) = start(limits(4)).await;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        // Kept alive, then silent: the server closes it.
        let rest = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut tcp))
            .await
            .expect("closed after the idle wait");
        assert!(rest.is_empty());
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_slow_handler_keeps_its_connection_past_the_idle_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                "late"
            }),
        );
        let task = tokio::spawn(serve(listener, router, limits(4), std::future::pending()));
        let answer = tokio::time::timeout(Duration::from_secs(5), honest_get(addr))
            .await
            .unwrap();
        assert!(answer.ends_with("late"), "{answer}");
        task.abort();
    }

    #[test]
    fn limits_read_from_toml_and_refuse_zero() {
        let limits: HttpLimits =
            toml::from_str("max_connections = 10\nheader_read_timeout = \"5s\"").unwrap();
        assert_eq!(limits.max_connections, 10);
        assert_eq!(limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(limits.idle_timeout, HttpLimits::default().idle_timeout);
        assert!(limits.check().is_ok());
        let zero: HttpLimits = toml::from_str("max_connections = 0").unwrap();
        assert!(zero.check().unwrap_err().contains("max_connections"));
        let err = toml::from_str::<HttpLimits>("idle_timeout = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        let err = toml::from_str::<HttpLimits>("max_conns = 1").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
