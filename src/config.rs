//! The data directory and the node's configuration.
//!
//! A data dir (`$CAIRN_PATH`, default `~/.cairn`) holds `config.toml`, the node's ed25519
//! identity (`identity.key`, mode 0600: its libp2p identity and its signing key), the API
//! token (`api.token`, 0600), the SQLite database, the block store, and while a daemon runs,
//! `daemon.json` with the addresses it actually bound (so the CLI finds it, as Kubo's `api`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    pub listen: SocketAddr,
    /// Host names (beyond loopback and the bound address) that requests may address the API
    /// by, e.g. a reverse proxy's name. The gateway ignores it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SwarmConfig {
    /// Multiaddrs to listen on (TCP and QUIC).
    pub listen: Vec<String>,
    /// Peers to join the DHT through. None by default: a node never dials out on its own.
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Cap on block bytes, e.g. "500GiB". Unlimited if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,
    /// Where blocks are kept. `fs` (the default, also when `[storage]` is absent): files in
    /// the data dir's `blocks/`. `memory`: in RAM and lost at exit, for tests only (the
    /// database keeps its records of blocks across restarts; the blocks do not survive).
    #[serde(default)]
    pub backend: StorageBackend,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Fs,
    Memory,
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
    /// Each deal's term, e.g. "30d".
    pub duration: String,
    /// Highest price accepted, base units per GiB-month; no cap if unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price_per_gib_month: Option<u64>,
    /// How often each provider is challenged, e.g. "1h".
    pub challenge_period: String,
    /// How long fetching a kept DAG from its origins and the network may take before the
    /// keep fails, e.g. "10m".
    pub fetch_timeout: String,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig {
            replicas: 3,
            duration: "30d".into(),
            max_price_per_gib_month: None,
            challenge_period: "1h".into(),
            fetch_timeout: "10m".into(),
        }
    }
}

impl KeeperConfig {
    /// The default policy these settings make.
    pub fn policy(&self) -> Result<crate::keeper::Policy, String> {
        let secs = |field: &str, text: &str| {
            crate::keeper::policy::parse_secs(text).map_err(|e| format!("keeper.{field}: {e}"))
        };
        let policy = crate::keeper::Policy {
            replicas: self.replicas,
            duration_secs: secs("duration", &self.duration)?,
            max_price_per_gib_month: self.max_price_per_gib_month,
            challenge_period_secs: secs("challenge_period", &self.challenge_period)?,
        };
        policy.validate().map_err(|e| format!("keeper: {e}"))?;
        Ok(policy)
    }

    pub fn fetch_timeout(&self) -> Result<std::time::Duration, String> {
        crate::keeper::policy::parse_secs(&self.fetch_timeout)
            .map(std::time::Duration::from_secs)
            .map_err(|e| format!("keeper.fetch_timeout: {e}"))
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
            },
            gateway: ListenConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], port(8701))),
                allowed_hosts: Vec::new(),
            },
            swarm: SwarmConfig {
                listen: vec![
                    format!("/ip4/0.0.0.0/tcp/{}", port(4701)),
                    format!("/ip4/0.0.0.0/udp/{}/quic-v1", port(4701)),
                ],
                bootstrap: Vec::new(),
            },
            storage: StorageConfig::default(),
            pay: PayConfig::default(),
            keeper: KeeperConfig::default(),
            database_url: None,
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
        }
    }

    pub fn quota_bytes(&self) -> Result<Option<u64>, String> {
        self.storage
            .quota
            .as_deref()
            .map(|q| q.parse::<bytesize::ByteSize>().map(|b| b.as_u64()))
            .transpose()
            .map_err(|e| format!("storage.quota: {e}"))
    }
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
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let keeper = config.keeper.policy().and(config.keeper.fetch_timeout());
        keeper.map_err(|reason| ConfigError::Invalid {
            path: path.clone(),
            reason,
        })?;
        crate::market::Amount::recordable(
            config.pay.max_price_per_gib_month,
            "[pay] max_price_per_gib_month",
        )
        .map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        config
            .quota_bytes()
            .map_err(|reason| ConfigError::Invalid { path, reason })?;
        Ok(config)
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
        assert!(matches!(
            data.load_config(),
            Err(ConfigError::Invalid { .. })
        ));
        let mut config = Config::new(true);
        config.storage.quota = Some("lots".into());
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            toml::to_string(&config).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            data.load_config(),
            Err(ConfigError::Invalid { .. })
        ));
        config.storage.quota = None;
        let unknown = toml::to_string(&config)
            .unwrap()
            .replace("backend = \"fs\"", "backend = \"tape\"");
        std::fs::write(dir.path().join(CONFIG_FILE), unknown).unwrap();
        assert!(matches!(
            data.load_config(),
            Err(ConfigError::Invalid { reason, .. }) if reason.contains("tape")
        ));
    }
}
