//! The data directory and the node's configuration.
//!
//! A data dir (`$CAIRN_PATH`, default `~/.cairn`) holds `config.toml`, the node's ed25519
//! identity (`identity.key`, mode 0600: its libp2p identity and its signing key), the API
//! token (`api.token`, 0600), the SQLite database, the block store, and while a daemon runs,
//! `daemon.json` with the addresses it actually bound (so the CLI finds it, as Kubo's `api`).
//!
//! Invariant: a loaded [`Config`] is valid. `config.toml` keeps the forms people write
//! (`"500GiB"`, `"30d"`, multiaddr strings), and loading turns them into typed values
//! (sizes in bytes, `Duration`s, `Multiaddr`s, `SocketAddr`s) and checks the keeper's policy,
//! so a bad value fails at load with an error naming its key and line, and no user of the
//! config parses anything again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::keeper::{Policy, PolicyError};
use crate::units::duration_text;

mod daemon_file;
pub use daemon_file::DaemonFile;
mod log;
pub use log::{filter_directive, LogConfig, LogFormat};
mod provider;
pub use provider::ProviderConfig;
#[cfg(test)]
mod announce_tests;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is already initialized (config.toml exists)")]
    AlreadyInitialized(PathBuf),
    #[error("{0} is not initialized: run `cairn init` first")]
    NotInitialized(PathBuf),
    #[error("invalid config {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// A value of `config.toml` that cannot be read, or that contradicts another.
    #[error("invalid config {path}: {}{reason}", place(.key, .line))]
    BadValue {
        path: PathBuf,
        /// The key, dotted (`keeper.duration`), if the error is about one.
        key: Option<String>,
        line: Option<usize>,
        reason: String,
    },
    #[error("no home directory: set CAIRN_PATH")]
    NoHome,
    /// Another daemon holds the data dir's lock.
    #[error(
        "{path} is in use by another cairn daemon{}: stop it, or give this one another data dir (CAIRN_PATH)",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked { path: PathBuf, holder: Option<u32> },
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// `keeper.duration (line 12): ` for an error's message.
fn place(key: &Option<String>, line: &Option<usize>) -> String {
    match (key, line) {
        (Some(key), Some(line)) => format!("{key} (line {line}): "),
        (Some(key), None) => format!("{key}: "),
        (None, Some(line)) => format!("line {line}: "),
        (None, None) => String::new(),
    }
}

const CONFIG_FILE: &str = "config.toml";
const IDENTITY_FILE: &str = "identity.key";
const TOKEN_FILE: &str = "api.token";
const DAEMON_FILE: &str = "daemon.json";
const LOCK_FILE: &str = "repo.lock";

/// What `config.toml` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub api: ListenConfig,
    pub gateway: ListenConfig,
    pub swarm: SwarmConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub pay: PayConfig,
    #[serde(default)]
    pub keeper: KeeperConfig,
    /// `sqlite://...` or `postgres://...`; the embedded SQLite file in the data dir if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Settlement on an EVM chain (`crate::chain::config`); the node's ledger if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<crate::chain::config::ChainConfig>,
    /// How the daemon logs (`[log]`, see [`LogConfig`]).
    #[serde(default, skip_serializing_if = "LogConfig::is_default")]
    pub log: LogConfig,
    /// The storage terms applied at start (`[provider]`, see [`ProviderConfig`]); none: the
    /// terms set with `cairn provider ask set`, if any, stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    pub listen: SocketAddr,
    /// Host names (beyond loopback and the bound address) that requests may address the API
    /// by, e.g. a reverse proxy's name. The gateway ignores it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Connection cap, header-read and idle timeouts (`[api.limits]`, `[gateway.limits]`).
    #[serde(default, skip_serializing_if = "crate::api::HttpLimits::is_default")]
    pub limits: crate::api::HttpLimits,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SwarmConfig {
    /// Multiaddrs to listen on (TCP and QUIC).
    #[serde(with = "multiaddrs")]
    pub listen: Vec<Multiaddr>,
    /// Peers to join the DHT through. None by default: a node never dials out on its own.
    #[serde(default, with = "multiaddrs")]
    pub bootstrap: Vec<Multiaddr>,
    /// Public addresses to advertise to peers (identify, the DHT's provider records) beside
    /// the listen addresses: a node behind NAT or a port forward names where it is reachable.
    /// Each needs a TCP or UDP port and names no peer (the node's own `/p2p/` is added).
    #[serde(default, with = "multiaddrs", skip_serializing_if = "Vec::is_empty")]
    pub announce: Vec<Multiaddr>,
}

/// Serde for multiaddrs written as strings.
mod multiaddrs {
    use libp2p::Multiaddr;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(addrs: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(addrs.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Multiaddr>, D::Error> {
        let addrs = Vec::<Text>::deserialize(d)?;
        Ok(addrs.into_iter().map(|Text(addr)| addr).collect())
    }

    /// One address, read on its own so an error points at it (`swarm.listen[1]`).
    struct Text(Multiaddr);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            text.parse()
                .map(Text)
                .map_err(|e| D::Error::custom(format!("invalid multiaddr {text:?}: {e}")))
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Cap on block bytes, written e.g. "500GiB". Unlimited if unset.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::size_text"
    )]
    pub quota: Option<u64>,
    /// Where blocks are kept. `fs` (the default, also when `[storage]` is absent): files in
    /// the data dir's `blocks/`. `memory`: in RAM and lost at exit, for tests only (the
    /// database keeps its records of blocks across restarts; the blocks do not survive).
    /// `s3`: one object per block in the bucket `[storage.s3]` names (see
    /// docs/operators-s3.md), credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
    #[serde(default, skip_serializing_if = "StorageBackend::is_default")]
    pub backend: StorageBackend,
    /// Where the `s3` backend keeps blocks; required (its `bucket` at least) with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Settings>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Fs,
    Memory,
    S3,
}

/// `[storage.s3]`: the bucket of the `s3` backend. Credentials are not here: they come from
/// the environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket's name (it must exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// `http(s)://host:port` of an S3-compatible server; AWS's own endpoint if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket's region; `us-east-1` if unset (what most S3-compatible servers accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A key prefix for this node's blocks, e.g. `provider-1`; none if unset.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO, Ceph and most self-hosted
    /// servers want; virtual-hosted style (`bucket.endpoint/key`) if false. Default true with
    /// an `endpoint`, false without (AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
}

/// The region an `[storage.s3]` without one uses.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

impl StorageConfig {
    /// Checks what the types alone do not: the `s3` backend's bucket and endpoint.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.backend != StorageBackend::S3 {
            return Ok(());
        }
        let s3 = self.s3.clone().unwrap_or_default();
        match s3.bucket.as_deref() {
            None => {
                return Err((
                    "storage.s3.bucket",
                    "backend \"s3\" needs the bucket that holds the blocks".into(),
                ))
            }
            Some(bucket) if bucket.is_empty() || bucket.contains('/') => {
                return Err((
                    "storage.s3.bucket",
                    format!("{bucket:?} is not a bucket name"),
                ))
            }
            Some(_) => {}
        }
        if let Some(endpoint) = &s3.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err((
                    "storage.s3.endpoint",
                    format!("{endpoint:?} is not an http:// or https:// URL"),
                ));
            }
        }
        Ok(())
    }

    /// The `s3` backend's settings as the store takes them (credentials read at open).
    fn s3_config(&self) -> crate::blockstore::S3Config {
        let s3 = self.s3.clone().unwrap_or_default();
        crate::blockstore::S3Config {
            bucket: s3.bucket.unwrap_or_default(),
            path_style: s3.path_style.unwrap_or(s3.endpoint.is_some()),
            endpoint: s3.endpoint,
            region: s3.region.unwrap_or_else(|| DEFAULT_S3_REGION.into()),
            prefix: s3.prefix.trim_matches('/').to_string(),
            credentials: None,
        }
    }
}

impl StorageBackend {
    fn is_default(&self) -> bool {
        *self == StorageBackend::default()
    }
}

/// Payments: what this node charges for serving blocks and how it pays others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PayConfig {
    /// Bytes each peer may fetch before retrieval is charged (the ask sets the price).
    pub free_bytes: u64,
    /// Unpaid retrieval debt at which this node asks a peer to pay, base units.
    pub payment_threshold: u64,
    /// Unpaid retrieval debt at which this node stops serving a peer, base units.
    pub disconnect_threshold: u64,
    /// Deposit of a channel opened on its own to pay a provider's retrieval invoices; 0 never
    /// pays retrieval automatically.
    pub retrieval_deposit: u64,
    /// The most this node pays per GiB-month of storage when a deal or keep names no price
    /// cap of its own, base units: an ask above it is refused, so no deposit is committed on
    /// terms nobody agreed to.
    pub max_price_per_gib_month: u64,
}

/// The default price cap (`[pay] max_price_per_gib_month`): a million base units per
/// GiB-month, far above the prices asks carry today and far below what overflows a deposit.
pub const DEFAULT_MAX_PRICE_PER_GIB_MONTH: u64 = 1_000_000;

impl Default for PayConfig {
    fn default() -> Self {
        PayConfig {
            free_bytes: 16 << 20,
            payment_threshold: 1_000,
            disconnect_threshold: 5_000,
            retrieval_deposit: 100_000,
            max_price_per_gib_month: DEFAULT_MAX_PRICE_PER_GIB_MONTH,
        }
    }
}

/// The keeper's defaults, for `cairn keep` and for pins made through the Pinning Service API
/// (whose `meta` may override `replicas`, `duration`, `max_price_per_gib_month`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeeperConfig {
    /// Deals with distinct providers per kept CID.
    pub replicas: u32,
    /// Each deal's term, written e.g. "30d".
    #[serde(with = "duration_text")]
    pub duration: Duration,
    /// Highest price accepted, base units per GiB-month; no cap if unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price_per_gib_month: Option<u64>,
    /// How often each provider is challenged, written e.g. "1h".
    #[serde(with = "duration_text")]
    pub challenge_period: Duration,
    /// How long fetching a kept DAG from its origins and the network may take before the
    /// keep fails, written e.g. "10m".
    #[serde(with = "duration_text")]
    pub fetch_timeout: Duration,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig {
            replicas: 3,
            duration: Duration::from_secs(30 * 86_400),
            max_price_per_gib_month: None,
            challenge_period: Duration::from_secs(3_600),
            fetch_timeout: Duration::from_secs(600),
        }
    }
}

impl KeeperConfig {
    /// The default policy these settings make (whole seconds), validated.
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        let policy = Policy {
            replicas: self.replicas,
            duration_secs: self.duration.as_secs(),
            max_price_per_gib_month: self.max_price_per_gib_month,
            challenge_period_secs: self.challenge_period.as_secs(),
        };
        policy.validate()?;
        Ok(policy)
    }

    /// Checks what the types alone do not: the policy, and a fetch timeout that is not 0.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        self.policy().map_err(|e| {
            let key = match e {
                PolicyError::Replicas(_) => "keeper.replicas",
                PolicyError::ChallengePeriod => "keeper.challenge_period",
                PolicyError::Duration { .. } | PolicyError::Meta { .. } => "keeper.duration",
                PolicyError::PriceTooLarge(_) => "keeper.max_price_per_gib_month",
            };
            (key, e.to_string())
        })?;
        if self.fetch_timeout.is_zero() {
            return Err(("keeper.fetch_timeout", "must be more than 0".into()));
        }
        Ok(())
    }
}

impl Config {
    /// The defaults `cairn init` writes: loopback HTTP, swarm on all interfaces; with
    /// `random_ports` every port is 0 so the OS picks free ones.
    pub fn new(random_ports: bool) -> Self {
        let port = |p: u16| if random_ports { 0 } else { p };
        Config {
            api: ListenConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], port(5701))),
                allowed_hosts: Vec::new(),
                limits: Default::default(),
            },
            gateway: ListenConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], port(8701))),
                allowed_hosts: Vec::new(),
                limits: Default::default(),
            },
            swarm: SwarmConfig {
                listen: vec![
                    Multiaddr::from(std::net::Ipv4Addr::UNSPECIFIED)
                        .with(libp2p::multiaddr::Protocol::Tcp(port(4701))),
                    Multiaddr::from(std::net::Ipv4Addr::UNSPECIFIED)
                        .with(libp2p::multiaddr::Protocol::Udp(port(4701)))
                        .with(libp2p::multiaddr::Protocol::QuicV1),
                ],
                bootstrap: Vec::new(),
                announce: Vec::new(),
            },
            storage: StorageConfig::default(),
            pay: PayConfig::default(),
            keeper: KeeperConfig::default(),
            database_url: None,
            chain: None,
            log: LogConfig::default(),
            provider: None,
        }
    }

    /// The block store backend to open for this config in `data`.
    pub fn block_store(&self, data: &DataDir) -> crate::blockstore::BackendConfig {
        use crate::blockstore::BackendConfig;
        match self.storage.backend {
            StorageBackend::Fs => BackendConfig::Fs {
                root: data.blocks_dir(),
            },
            StorageBackend::Memory => BackendConfig::Memory,
            StorageBackend::S3 => BackendConfig::S3(self.storage.s3_config()),
        }
    }

    /// Reads `config.toml`'s text into typed, checked values; an error names the key and
    /// line it is about. `path` is only for the error.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config> {
        let bad =
            |key: Option<String>, line: Option<usize>, reason: String| ConfigError::BadValue {
                path: path.to_path_buf(),
                key,
                line,
                reason,
            };
        let config: Config = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| {
                let key = e.path().to_string();
                let e = e.into_inner();
                let line = e
                    .span()
                    .and_then(|span| text.get(..span.start))
                    .map(|before| before.matches('\n').count() + 1);
                bad((key != ".").then_some(key), line, e.message().to_string())
            })?;
        config
            .keeper
            .validate()
            .map_err(|(key, reason)| bad(Some(key.into()), None, reason))?;
        for (key, limits) in [
            ("api.limits", &config.api.limits),
            ("gateway.limits", &config.gateway.limits),
        ] {
            limits
                .check()
                .map_err(|reason| bad(Some(key.into()), None, reason))?;
        }
        if let Some(chain) = &config.chain {
            chain
                .validate()
                .map_err(|(key, reason)| bad(Some(key.into()), None, reason))?;
        }
        if let Some(provider) = &config.provider {
            provider
                .validate()
                .map_err(|(key, reason)| bad(Some(key.into()), None, reason))?;
        }
        for (i, addr) in config.swarm.announce.iter().enumerate() {
            if let Err(reason) = announceable(addr) {
                let shown = addr.to_string();
                let line = text.lines().position(|l| l.contains(&shown)).map(|i| i + 1);
                let reason = format!("cannot announce {shown:?}: {reason}");
                return Err(bad(Some(format!("swarm.announce[{i}]")), line, reason));
            }
        }
        config
            .storage
            .validate()
            .map_err(|(key, reason)| bad(Some(key.into()), None, reason))?;
        crate::amount::Amount::recordable(
            config.pay.max_price_per_gib_month,
            "[pay] max_price_per_gib_month",
        )
        .map_err(|e| {
            bad(
                Some("pay.max_price_per_gib_month".into()),
                None,
                e.to_string(),
            )
        })?;
        Ok(config)
    }
}

/// An address peers can dial: a host, then a TCP or UDP port, and no other peer's id.
fn announceable(addr: &Multiaddr) -> std::result::Result<(), &'static str> {
    use libp2p::multiaddr::Protocol;
    let mut parts = addr.iter();
    match parts.next() {
        Some(
            Protocol::Ip4(_)
            | Protocol::Ip6(_)
            | Protocol::Dns(_)
            | Protocol::Dns4(_)
            | Protocol::Dns6(_),
        ) => {}
        _ => return Err("it must start with /ip4, /ip6, /dns, /dns4 or /dns6"),
    }
    match parts.next() {
        Some(Protocol::Tcp(port) | Protocol::Udp(port)) if port != 0 => {}
        Some(Protocol::Tcp(_) | Protocol::Udp(_)) => return Err("port 0 cannot be dialled"),
        _ => return Err("a TCP or UDP port must follow the host"),
    }
    if addr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
        return Err("it must not name a peer (/p2p/): this node's own id is added");
    }
    Ok(())
}

/// Addresses a running daemon bound, written to `daemon.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DaemonInfo {
    pub id: String,
    pub api: String,
    pub gateway: String,
    pub addresses: Vec<String>,
    pub pid: u32,
}

/// A data directory and the paths inside it.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// `$CAIRN_PATH`, else `~/.cairn`.
    pub fn from_env() -> Result<Self> {
        if let Some(path) = std::env::var_os("CAIRN_PATH").filter(|p| !p.is_empty()) {
            return Ok(DataDir::new(path));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(ConfigError::NoHome)?;
        Ok(DataDir::new(Path::new(&home).join(".cairn")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn blocks_dir(&self) -> PathBuf {
        self.root.join("blocks")
    }
    pub fn token_path(&self) -> PathBuf {
        self.root.join(TOKEN_FILE)
    }
    pub fn identity_path(&self) -> PathBuf {
        self.root.join(IDENTITY_FILE)
    }
    pub fn daemon_path(&self) -> PathBuf {
        self.root.join(DAEMON_FILE)
    }
    pub fn default_database_url(&self) -> String {
        format!("sqlite://{}", self.root.join("cairn.db").display())
    }

    pub fn is_initialized(&self) -> bool {
        self.root.join(CONFIG_FILE).exists()
    }

    /// Creates the data dir with a config, a fresh identity and an API token.
    pub fn init(&self, config: &Config) -> Result<()> {
        if self.is_initialized() {
            return Err(ConfigError::AlreadyInitialized(self.root.clone()));
        }
        std::fs::create_dir_all(&self.root).map_err(|e| self.io(&self.root, e))?;
        let seed: [u8; 32] = rand::random();
        write_private(&self.identity_path(), hex::encode(seed).as_bytes())?;
        let token: [u8; 32] = rand::random();
        write_private(&self.token_path(), hex::encode(token).as_bytes())?;
        let text = toml::to_string_pretty(config).map_err(|e| ConfigError::Invalid {
            path: self.root.join(CONFIG_FILE),
            reason: e.to_string(),
        })?;
        // Written last: its presence means the directory is complete.
        let path = self.root.join(CONFIG_FILE);
        write_owner_only(&path, text.as_bytes()).map_err(|e| self.io(&path, e))?;
        self.secure()
    }

    /// Owner-only modes whatever the umask: the data dir 0700; the config, the database (and
    /// SQLite's WAL and shared-memory files, which SQLite then creates with the database's
    /// mode), the identity key, the API token and the lock file 0600. Run at init and at each
    /// open, so a data dir made or copied loosely is tightened.
    pub fn secure(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &Path, mode: u32| match std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(mode),
        ) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(path, e)),
        };
        set(&self.root, 0o700)?;
        for name in [
            CONFIG_FILE,
            IDENTITY_FILE,
            TOKEN_FILE,
            LOCK_FILE,
            DAEMON_FILE,
            "cairn.db",
            "cairn.db-wal",
            "cairn.db-shm",
        ] {
            set(&self.root.join(name), 0o600)?;
        }
        Ok(())
    }

    pub fn load_config(&self) -> Result<Config> {
        let path = self.root.join(CONFIG_FILE);
        if !path.exists() {
            return Err(ConfigError::NotInitialized(self.root.clone()));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| self.io(&path, e))?;
        Config::from_toml(&path, &text)
    }

    /// The node's ed25519 signing key (also its libp2p identity).
    pub fn load_identity(&self) -> Result<ed25519_dalek::SigningKey> {
        let path = self.identity_path();
        let text = std::fs::read_to_string(&path).map_err(|e| self.io(&path, e))?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| ConfigError::Invalid {
                path: path.clone(),
                reason: "identity.key must hold 64 hex characters".into(),
            })?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn load_token(&self) -> Result<String> {
        let path = self.token_path();
        let text = std::fs::read_to_string(&path).map_err(|e| self.io(&path, e))?;
        Ok(text.trim().to_string())
    }

    pub fn write_daemon_info(&self, info: &DaemonInfo) -> Result<()> {
        let path = self.daemon_path();
        let text = serde_json::to_string_pretty(info).map_err(std::io::Error::other);
        let tmp = self.root.join(".daemon.json.tmp");
        text.and_then(|t| write_owner_only(&tmp, t.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| self.io(&path, e))
    }

    /// Takes the data dir's lock (`flock` on `repo.lock`), which a daemon holds for its life so
    /// that no second daemon runs on the same files. The lock goes with the returned handle, and
    /// with the process however it ends (a crash leaves no stale lock). Refused with
    /// [`ConfigError::Locked`] while another holder has it; the file names the holder's pid.
    pub fn lock(&self) -> Result<DataDirLock> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.root.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(ConfigError::Locked {
                    path: self.root.clone(),
                    holder: text.trim().parse().ok(),
                });
            }
            Err(fs4::TryLockError::Error(e)) => return Err(self.io(&path, e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .map_err(|e| self.io(&path, e))?;
        Ok(DataDirLock { _file: file })
    }

    pub fn read_daemon_info(&self) -> Option<DaemonInfo> {
        let text = std::fs::read_to_string(self.daemon_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn remove_daemon_info(&self) {
        let _ = std::fs::remove_file(self.daemon_path());
    }

    fn io(&self, path: &Path, source: std::io::Error) -> ConfigError {
        ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A data dir's lock, held while this value lives (see [`DataDir::lock`]).
#[derive(Debug)]
pub struct DataDirLock {
    /// The locked file: closing it releases the lock.
    _file: std::fs::File,
}

/// Writes (or replaces) a file readable by its owner only, whatever the umask.
fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)
}

/// Writes a secret readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e| ConfigError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// The libp2p keypair for a signing key: one key, two roles.
pub fn libp2p_keypair(
    key: &ed25519_dalek::SigningKey,
) -> Result<libp2p_identity::Keypair, libp2p_identity::DecodingError> {
    let mut seed = key.to_bytes();
    libp2p_identity::Keypair::ed25519_from_bytes(&mut seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_writes_private_identity_and_a_loadable_config() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("node"));
        data.init(&Config::new(true)).unwrap();
        let mode = std::fs::metadata(data.identity_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(data.token_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let config = data.load_config().unwrap();
        assert_eq!(config, Config::new(true));
        assert_eq!(config.api.listen.port(), 0);
        let key = data.load_identity().unwrap();
        let peer = libp2p_keypair(&key).unwrap().public().to_peer_id();
        assert_eq!(
            peer,
            libp2p_keypair(&data.load_identity().unwrap())
                .unwrap()
                .public()
                .to_peer_id()
        );
        assert!(matches!(
            data.init(&Config::new(true)),
            Err(ConfigError::AlreadyInitialized(_))
        ));
    }

    #[test]
    fn the_block_store_is_the_fs_store_in_the_data_dir_unless_configured() {
        let data = DataDir::new("/srv/cairn");
        let mut config = Config::new(true);
        let text = toml::to_string(&config).unwrap();
        let without_storage: String = text
            .lines()
            .filter(|line| !line.starts_with("[storage]") && !line.starts_with("backend"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!without_storage.contains("storage"), "{without_storage}");
        let parsed: Config = toml::from_str(&without_storage).unwrap();
        assert_eq!(
            parsed.block_store(&data),
            crate::blockstore::BackendConfig::Fs {
                root: PathBuf::from("/srv/cairn/blocks")
            }
        );

        config.storage.backend = StorageBackend::Memory;
        let parsed: Config = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(
            parsed.block_store(&data),
            crate::blockstore::BackendConfig::Memory
        );
        let memory = toml::to_string(&config).unwrap();
        assert!(memory.contains("backend = \"memory\""), "{memory}");
    }

    #[test]
    fn bad_config_and_missing_dir_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        assert!(matches!(
            data.load_config(),
            Err(ConfigError::NotInitialized(_))
        ));
        std::fs::write(dir.path().join(CONFIG_FILE), "api = 3").unwrap();
        let e = data.load_config().unwrap_err();
        assert!(
            matches!(&e, ConfigError::BadValue { key: Some(k), line: Some(1), .. } if k == "api"),
            "{e:?}"
        );
        std::fs::write(dir.path().join(CONFIG_FILE), "[api\nlisten = 1").unwrap();
        let e = data.load_config().unwrap_err();
        assert!(
            matches!(
                &e,
                ConfigError::BadValue {
                    key: None,
                    line: Some(1),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    /// What `cairn init` writes: the format users edit, unchanged by typed loading.
    const INIT_TOML: &str = r#"[api]
listen = "127.0.0.1:5701"

[gateway]
listen = "127.0.0.1:8701"

[swarm]
listen = [
    "/ip4/0.0.0.0/tcp/4701",
    "/ip4/0.0.0.0/udp/4701/quic-v1",
]
bootstrap = []

[storage]

[pay]
free_bytes = 16777216
payment_threshold = 1000
disconnect_threshold = 5000
retrieval_deposit = 100000
max_price_per_gib_month = 1000000

[keeper]
replicas = 3
duration = "30d"
challenge_period = "1h"
fetch_timeout = "10m"
"#;

    fn load(text: &str) -> Result<Config> {
        Config::from_toml(Path::new("config.toml"), text)
    }

    #[test]
    fn the_written_format_is_unchanged_and_loads_into_typed_values() {
        assert_eq!(
            toml::to_string_pretty(&Config::new(false)).unwrap(),
            INIT_TOML
        );
        let config = load(INIT_TOML).unwrap();
        assert_eq!(config, Config::new(false));
        assert_eq!(config.keeper.duration, Duration::from_secs(30 * 86_400));
        assert_eq!(config.keeper.fetch_timeout, Duration::from_secs(600));
        assert_eq!(
            config.swarm.listen[1].to_string(),
            "/ip4/0.0.0.0/udp/4701/quic-v1"
        );
        let written = INIT_TOML
            .replace("[storage]\n", "[storage]\nquota = \"500GiB\"\n")
            .replace("bootstrap = []", "bootstrap = [\"/ip4/10.0.0.1/tcp/4701\"]")
            .replace("\"1h\"", "\"1h 30m\"")
            .replace("\"10m\"", "\"45\"");
        let config = load(&written).unwrap();
        assert_eq!(config.storage.quota, Some(500 << 30));
        assert_eq!(
            config.swarm.bootstrap[0].to_string(),
            "/ip4/10.0.0.1/tcp/4701"
        );
        assert_eq!(config.keeper.challenge_period, Duration::from_secs(5_400));
        assert_eq!(config.keeper.fetch_timeout, Duration::from_secs(45));
        assert_eq!(config.keeper.policy().unwrap().challenge_period_secs, 5_400);
        // Written back in the shortest exact form, and read back to the same config.
        let again = toml::to_string_pretty(&config).unwrap();
        assert!(again.contains("quota = \"500GiB\""), "{again}");
        assert!(again.contains("challenge_period = \"90m\""), "{again}");
        assert_eq!(load(&again).unwrap(), config);
    }

    #[test]
    fn a_bad_value_fails_at_load_naming_its_key_and_line() {
        let cases = [
            (
                "[storage]\n",
                "[storage]\nquota = \"lots\"\n",
                "storage.quota",
                "is not a size",
            ),
            (
                "[storage]\n",
                "[storage]\nbackend = \"tape\"\n",
                "storage.backend",
                "tape",
            ),
            (
                "[storage]\n",
                "[storage]\nquota = 5\n",
                "storage.quota",
                "invalid type",
            ),
            (
                "\"30d\"",
                "\"soon\"",
                "keeper.duration",
                "is not a duration",
            ),
            (
                "\"10m\"",
                "\"forever\"",
                "keeper.fetch_timeout",
                "is not a duration",
            ),
            (
                "replicas = 3",
                "replicas = -1",
                "keeper.replicas",
                "invalid value",
            ),
            (
                "\"/ip4/0.0.0.0/tcp/4701\"",
                "\"ip4/0.0.0.0/tcp/4701\"",
                "swarm.listen[0]",
                "invalid multiaddr \"ip4/0.0.0.0/tcp/4701\"",
            ),
            (
                "bootstrap = []",
                "bootstrap = [\"/ip4/10.0.0.1/tcp/port\"]",
                "swarm.bootstrap[0]",
                "invalid multiaddr",
            ),
            (
                "\"127.0.0.1:5701\"",
                "\"localhost:5701\"",
                "api.listen",
                "invalid socket address",
            ),
            (
                "replicas = 3",
                "replica = 3",
                "keeper.replica",
                "unknown field `replica`",
            ),
            (
                "[storage]\n",
                "[storage]\nbackend = \"s3\"\n\n[storage.s3]\nbucket = \"b\"\nregoin = \"x\"\n",
                "storage.s3.regoin",
                "unknown field `regoin`",
            ),
        ];
        for (from, to, key, reason) in cases {
            let text = INIT_TOML.replacen(from, to, 1);
            let e = load(&text).unwrap_err();
            let ConfigError::BadValue {
                key: Some(k),
                line: Some(line),
                reason: r,
                ..
            } = &e
            else {
                panic!("{to}: {e:?}");
            };
            assert_eq!(k, key, "{to}");
            assert!(r.contains(reason), "{to}: {r}");
            let shown = text.lines().nth(line - 1).unwrap();
            // An array's element errors point at the array's first line.
            let changed = match key {
                "swarm.listen[0]" => "listen = [",
                _ => to.trim().lines().last().unwrap(),
            };
            assert!(shown.contains(changed), "{to}: line {line} is {shown:?}");
            let message = e.to_string();
            assert!(
                message.starts_with(&format!(
                    "invalid config config.toml: {key} (line {line}): "
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn the_s3_backend_needs_a_bucket_and_an_http_endpoint() {
        let s3 = |table: &str| {
            INIT_TOML.replacen(
                "[storage]\n",
                &format!("[storage]\nbackend = \"s3\"\n{table}"),
                1,
            )
        };
        let cases = [
            ("", "storage.s3.bucket", "needs the bucket"),
            (
                "\n[storage.s3]\nendpoint = \"http://127.0.0.1:9000\"\n",
                "storage.s3.bucket",
                "needs the bucket",
            ),
            (
                "\n[storage.s3]\nbucket = \"\"\n",
                "storage.s3.bucket",
                "is not a bucket name",
            ),
            (
                "\n[storage.s3]\nbucket = \"b\"\nendpoint = \"127.0.0.1:9000\"\n",
                "storage.s3.endpoint",
                "is not an http:// or https:// URL",
            ),
        ];
        for (table, key, reason) in cases {
            let e = load(&s3(table)).unwrap_err();
            assert!(
                matches!(&e, ConfigError::BadValue { key: Some(k), .. } if k == key),
                "{table}: {e:?}"
            );
            let message = e.to_string();
            assert!(message.contains(&format!("{key}: ")), "{message}");
            assert!(message.contains(reason), "{message}");
        }

        // A full table, and a bare one: the defaults follow the endpoint.
        let data = DataDir::new("/tmp/cairn-config-test");
        let full = load(&s3("\n[storage.s3]\nbucket = \"blocks\"\nendpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nprefix = \"/provider-1/\"\n")).unwrap();
        let crate::blockstore::BackendConfig::S3(config) = full.block_store(&data) else {
            panic!("not the s3 backend");
        };
        assert_eq!(
            (
                config.bucket.as_str(),
                config.endpoint.as_deref(),
                config.region.as_str(),
                config.prefix.as_str(),
                config.path_style,
                config.credentials.is_none()
            ),
            (
                "blocks",
                Some("http://127.0.0.1:9000"),
                "eu-west-1",
                "provider-1",
                true,
                true
            )
        );
        let aws = load(&s3("\n[storage.s3]\nbucket = \"blocks\"\n")).unwrap();
        let crate::blockstore::BackendConfig::S3(config) = aws.block_store(&data) else {
            panic!("not the s3 backend");
        };
        assert_eq!(
            (config.region.as_str(), config.path_style),
            ("us-east-1", false)
        );
        // Written back and read back to the same config.
        let again = toml::to_string_pretty(&full).unwrap();
        assert!(again.contains("backend = \"s3\""), "{again}");
        assert_eq!(load(&again).unwrap(), full);
    }

    #[test]
    fn a_policy_the_keeper_refuses_fails_at_load_naming_its_key() {
        let cases = [
            ("replicas = 3", "replicas = 0", "keeper.replicas"),
            ("replicas = 3", "replicas = 17", "keeper.replicas"),
            ("\"1h\"", "\"500ms\"", "keeper.challenge_period"),
            ("\"30d\"", "\"30m\"", "keeper.duration"),
            ("\"10m\"", "\"0s\"", "keeper.fetch_timeout"),
        ];
        for (from, to, key) in cases {
            let e = load(&INIT_TOML.replacen(from, to, 1)).unwrap_err();
            assert!(
                matches!(&e, ConfigError::BadValue { key: Some(k), .. } if k == key),
                "{to}: {e:?}"
            );
            assert!(e.to_string().contains(&format!("{key}: ")), "{e}");
        }
    }

    #[test]
    fn a_chain_table_loads_typed_and_bad_values_name_their_key() {
        let table = "\n[chain]\nrpc_url = \"http://127.0.0.1:8545\"\ncontract = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n";
        let config = load(&format!("{INIT_TOML}{table}")).unwrap();
        let chain = config.chain.clone().unwrap();
        assert_eq!(chain.rpc_url, "http://127.0.0.1:8545");
        assert_eq!(
            chain.contract.to_checksum(None),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        assert_eq!(chain.token, None);
        assert_eq!(
            chain.claim_threshold,
            crate::chain::config::DEFAULT_CLAIM_THRESHOLD
        );
        assert_eq!(chain.challenge_window, Duration::from_secs(3_600));
        // Written back and read back the same.
        let again = toml::to_string_pretty(&config).unwrap();
        assert_eq!(load(&again).unwrap(), config);
        assert_eq!(load(INIT_TOML).unwrap().chain, None);

        let cases = [
            (
                "http://127.0.0.1:8545",
                "https://rpc.example",
                "chain.rpc_url",
            ),
            (
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "0x5FbDB23",
                "chain.contract",
            ),
            (
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "0x0000000000000000000000000000000000000000",
                "chain.contract",
            ),
        ];
        for (from, to, key) in cases {
            let text = format!("{INIT_TOML}{}", table.replace(from, to));
            let e = load(&text).unwrap_err();
            assert!(
                matches!(&e, ConfigError::BadValue { key: Some(k), .. } if k == key),
                "{to}: {e:?}"
            );
        }
        for (extra, key) in [
            ("claim_threshold = 0\n", "chain.claim_threshold"),
            ("challenge_window = \"0s\"\n", "chain.challenge_window"),
            ("token = \"nope\"\n", "chain.token"),
        ] {
            let e = load(&format!("{INIT_TOML}{table}{extra}")).unwrap_err();
            assert!(
                matches!(&e, ConfigError::BadValue { key: Some(k), .. } if k == key),
                "{extra}: {e:?}"
            );
        }
    }
}
