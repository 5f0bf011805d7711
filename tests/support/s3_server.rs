//! A real S3 server for tests and benches: `s3s-fs` (the s3s project's S3 implementation over
//! a directory) speaking HTTP on 127.0.0.1 at an OS-picked port, with SigV4 authentication
//! for one access key, and one bucket. It is not a mock: requests go over TCP through the
//! same client the `s3` backend uses, are authenticated, and objects land as files.
//!
//! It runs on a runtime of its own (one worker thread), so it keeps serving whatever the
//! test's runtime does, and it can go away and come back on the same port:
//! [`S3Server::stop`] closes the listener and every connection (later connections are
//! refused), [`S3Server::restart`] listens again with the same objects, and
//! [`S3Server::stop_after_puts`] makes the server vanish when a given PUT arrives, before it
//! is answered (storage going away in the middle of an add).
//!
//! Shared by the crate's unit tests, the integration tests and the benches through
//! `#[path]`; not every user needs every item.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cairn::blockstore::{S3Config, S3Credentials};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio_util::sync::CancellationToken;

pub const ACCESS_KEY: &str = "cairn-test-access";
pub const SECRET_KEY: &str = "cairn-test-secret-key-0123456789";
pub const BUCKET: &str = "cairn-blocks";

pub struct S3Server {
    addr: SocketAddr,
    /// The server's objects, as files (`<root>/<bucket>/<key>`).
    root: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    /// Stops the current listener and its connections.
    stop: CancellationToken,
    /// The accept loop; ends after `stop` with its listener dropped.
    accept: Option<tokio::task::JoinHandle<()>>,
    /// PUT requests answered since start, and the count at which the server goes away.
    puts: Arc<AtomicU64>,
    puts_limit: Arc<AtomicU64>,
}

impl S3Server {
    /// Starts a server with an empty bucket on 127.0.0.1 at a port the OS picks.
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket dir");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        // Bound with std (a test may call this inside its own runtime, where `block_on` is not
        // allowed), then handed to the server's runtime.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let listener = {
            let _inside = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("listener")
        };
        let mut server = S3Server {
            addr,
            root,
            runtime: Some(runtime),
            stop: CancellationToken::new(),
            accept: None,
            puts: Arc::new(AtomicU64::new(0)),
            puts_limit: Arc::new(AtomicU64::new(u64::MAX)),
        };
        server.serve(listener);
        server
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("runtime")
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let fs = s3s_fs::FileSystem::new(self.root.path()).expect("s3s-fs root");
        let service = {
            let mut builder = s3s::service::S3ServiceBuilder::new(fs);
            builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };
        let stop = CancellationToken::new();
        self.stop = stop.clone();
        let (puts, limit) = (self.puts.clone(), self.puts_limit.clone());
        let accept = self.runtime().spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                    () = stop.cancelled() => break,
                };
                let handler = Outage {
                    service: service.clone(),
                    stop: stop.clone(),
                    puts: puts.clone(),
                    limit: limit.clone(),
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), handler)
                    .into_owned();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn => {}
                        // Dropping the connection closes its socket mid-request.
                        () = stop.cancelled() => {}
                    }
                });
            }
        });
        self.accept = Some(accept);
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where the bucket's objects are on disk.
    pub fn bucket_dir(&self) -> std::path::PathBuf {
        self.root.path().join(BUCKET)
    }

    /// The `s3` backend's config for this server's bucket, under `prefix`.
    pub fn config(&self, prefix: &str) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            prefix: prefix.into(),
            path_style: true,
            credentials: Some(S3Credentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
                session_token: None,
            }),
        }
    }

    /// PUT requests received so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::Acquire)
    }

    /// The server goes away (as [`S3Server::stop`]) when the PUT after the next `n` arrives,
    /// without answering it.
    pub fn stop_after_puts(&self, n: u64) {
        self.puts_limit
            .store(self.puts().saturating_add(n), Ordering::Release);
    }

    /// Closes the listener and every connection; connections are refused until
    /// [`S3Server::restart`].
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }

    /// Listens again on the same port, with the same objects.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.puts_limit.store(u64::MAX, Ordering::Release);
        let addr = self.addr;
        let listener = self
            .runtime()
            .spawn(async move { tokio::net::TcpListener::bind(addr).await })
            .await
            .expect("bind task")
            .expect("rebind the server's port");
        self.serve(listener);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            // Allowed inside a test's runtime, unlike dropping one.
            runtime.shutdown_background();
        }
    }
}

/// The S3 service, and the PUT count at which the whole server goes away.
#[derive(Clone)]
struct Outage {
    service: s3s::service::S3Service,
    stop: CancellationToken,
    puts: Arc<AtomicU64>,
    limit: Arc<AtomicU64>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Outage {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let is_put = req.method() == hyper::Method::PUT;
        if is_put && self.puts.fetch_add(1, Ordering::AcqRel) >= self.limit.load(Ordering::Acquire)
        {
            // Unanswered: hyper drops the connection, and the listener closes.
            self.stop.cancel();
            return Box::pin(async { Err(s3s::HttpError::new("the S3 server went away".into())) });
        }
        hyper::service::Service::call(&self.service, req)
    }
}

/// Sets the credentials a node reads from the environment to this server's key. Every test
/// server uses the same key, so the value never changes once set.
pub fn set_credentials_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Rust's own reads of the environment are serialized with this write by std's lock,
        // and every caller sets the same value.
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    });
}
