//! Shared helpers for integration tests: real daemons on 127.0.0.1 with OS-picked ports and
//! temporary data dirs.
#![allow(dead_code)]

use cairn::config::{Config, DataDir};
use cairn::node::Daemon;

#[path = "../support/s3_server.rs"]
pub mod s3_server;

use s3_server::S3Server;

/// The block store backend a test node runs on: content tests run each body on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Files in the data dir (the default).
    Fs,
    /// Objects in a real S3 server of the node's own ([`S3Server`]).
    S3,
}

pub struct TestNode {
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The S3 server of a node on [`Storage::S3`]; it lives as long as the node.
    pub s3: Option<S3Server>,
}

/// The key prefix test nodes keep their blocks under in their S3 server's bucket.
pub const S3_PREFIX: &str = "node";

impl TestNode {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A node on `storage`.
    pub async fn start_on(storage: Storage) -> Self {
        Self::start_on_with(storage, |_| {}).await
    }

    /// A node on `storage`, its config edited by `edit` before it starts.
    pub async fn start_on_with(storage: Storage, edit: impl FnOnce(&mut Config)) -> Self {
        let node = match storage {
            Storage::Fs => Self::start_with(edit).await,
            Storage::S3 => {
                let server = S3Server::start();
                let mut node = Self::start_with(|c| {
                    s3_config(c, &server);
                    edit(c);
                })
                .await;
                node.s3 = Some(server);
                node
            }
        };
        let backend = node.daemon.node().content().store().backend().name();
        let expected = match storage {
            Storage::Fs => "fs",
            Storage::S3 => "s3",
        };
        assert_eq!(backend, expected, "the node runs on the backend asked for");
        node
    }

    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(cairn::clock::Clock::system(), edit).await
    }

    /// A node whose domain reads the time from `clock` (several nodes may share one manual
    /// clock, so a test moves time for all of them at once).
    pub async fn start_with_clock(
        clock: cairn::clock::Clock,
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("repo"));
        let mut config = Config::new(true);
        // Loopback only: tests never listen on, or advertise, another address.
        config.swarm.listen = vec![
            "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap(),
        ];
        edit(&mut config);
        data.init(&config).unwrap();
        let daemon = Daemon::start_with_clock(data, clock).await.unwrap();
        TestNode {
            daemon,
            dir,
            http: reqwest::Client::new(),
            s3: None,
        }
    }

    pub fn repo(&self) -> std::path::PathBuf {
        self.dir.path().join("repo")
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.daemon.info.api)
    }

    pub fn gateway(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.info.gateway)
    }

    pub fn token(&self) -> String {
        self.daemon.node().api_token().to_string()
    }

    /// Adds bytes as one file through the API; returns the JSON answer.
    pub async fn add(&self, bytes: Vec<u8>, query: &str) -> serde_json::Value {
        let response = self
            .http
            .post(self.api(&format!("/add{query}")))
            .bearer_auth(self.token())
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "add failed: {}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    /// Adds bytes as one file; returns the root CID.
    pub async fn add_cid(&self, bytes: Vec<u8>, query: &str) -> String {
        self.add(bytes, query).await["cid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Blocks in the store, counted as files on disk, in the data dir or in the S3 server's
    /// bucket (the ground truth for "nothing left").
    pub fn stored_files(&self) -> usize {
        match &self.s3 {
            None => count_files(&self.repo().join("blocks")),
            Some(server) => count_files(&server.bucket_dir()),
        }
    }

    /// Runs the real `cairn` binary against this node.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .env("CAIRN_PATH", self.repo())
            .env_remove("CAIRN_API")
            .output()
            .unwrap()
    }

    /// `cairn deal make <cid> --provider <provider> --duration <duration> [--challenge-period
    /// <period>] --json` against this node.
    pub fn make_deal(
        &self,
        cid: &str,
        provider: &TestNode,
        duration: &str,
        period: Option<&str>,
    ) -> std::process::Output {
        let addr = provider.tcp_addr();
        let mut args = vec![
            "deal",
            "make",
            cid,
            "--provider",
            &addr,
            "--duration",
            duration,
        ];
        if let Some(period) = period {
            args.extend(["--challenge-period", period]);
        }
        args.push("--json");
        self.cli(&args)
    }

    /// This node's TCP swarm address, `/p2p/<id>` included.
    pub fn tcp_addr(&self) -> String {
        let addrs = &self.daemon.info.addresses;
        addrs
            .iter()
            .find(|a| a.contains("/tcp/"))
            .cloned()
            .unwrap_or_default()
    }

    /// Stops the daemon and starts it again on the same data dir (new ports).
    pub async fn restart(self) -> Self {
        let TestNode {
            daemon,
            dir,
            http,
            s3,
        } = self;
        let data = daemon.node().data().clone();
        daemon.stop().await;
        let daemon = Daemon::start(data).await.unwrap();
        TestNode {
            daemon,
            dir,
            http,
            s3,
        }
    }

    /// Makes the node's next start listen on the TCP port it has now (the one the OS picked
    /// at first), as a provider with a fixed listen port comes back on its address.
    pub fn keep_tcp_port(&self) {
        let addr = self.tcp_addr();
        let port = addr
            .split('/')
            .skip_while(|p| *p != "tcp")
            .nth(1)
            .expect("a TCP listen address")
            .to_string();
        let path = self.repo().join("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let any_port = "/ip4/127.0.0.1/tcp/0\"";
        assert!(
            text.contains(any_port),
            "the test config listens on TCP port 0"
        );
        let fixed = text.replace(any_port, &format!("/ip4/127.0.0.1/tcp/{port}\""));
        std::fs::write(&path, fixed).unwrap();
    }

    /// Sets this node's ask: `price` per GiB-month and `retrieval` per GiB served, 1 s to
    /// 365 d, pieces up to 1 GiB, 1 GiB of capacity, challenges as often as every second.
    pub fn set_ask(&self, price: &str, retrieval: &str) {
        ok(&self.cli(&[
            "provider",
            "ask",
            "set",
            "--price-per-gib-month",
            price,
            "--retrieval-price-per-gib",
            retrieval,
            "--min-duration",
            "1s",
            "--max-duration",
            "365d",
            "--max-piece",
            "1GiB",
            "--capacity",
            "1GiB",
            "--min-challenge-period",
            "1s",
        ]));
    }

    /// This node's first payment channel in `role` (`payer` or `payee`), or null.
    pub fn channel(&self, role: &str) -> serde_json::Value {
        let list = json(&self.cli(&["pay", "channels", "--json"]));
        list["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["role"] == role)
            .cloned()
            .unwrap_or_default()
    }

    pub async fn stop(self) {
        self.daemon.stop().await;
    }
}

/// Points `config` at `server`'s bucket (under [`S3_PREFIX`]), with the credentials in the
/// environment, as an operator would.
pub fn s3_config(config: &mut Config, server: &S3Server) {
    s3_server::set_credentials_env();
    config.storage.backend = cairn::config::StorageBackend::S3;
    config.storage.s3 = Some(cairn::config::S3Settings {
        bucket: Some(s3_server::BUCKET.into()),
        endpoint: Some(server.endpoint()),
        region: None,
        prefix: S3_PREFIX.into(),
        path_style: Some(true),
    });
}

/// Runs each named test body (an `async fn(Storage)`) once per backend, as
/// `fs::<name>` and `s3::<name>`.
#[macro_export]
macro_rules! every_storage {
    ($($body:ident),* $(,)?) => {
        mod fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body($crate::common::Storage::Fs).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body($crate::common::Storage::S3).await
                }
            )*
        }
    };
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A command's stdout, after checking it succeeded (its stderr is the failure message).
#[track_caller]
pub fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A command's stdout as JSON, after checking it succeeded.
#[track_caller]
pub fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(ok(output).trim()).unwrap()
}

/// Polls `check` every 100 ms for up to `limit`; whether it came true.
pub async fn eventually(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    check()
}
