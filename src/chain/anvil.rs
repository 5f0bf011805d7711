//! A local development chain: Foundry's `anvil` (the npm package pinned in `contracts/evm`)
//! as a child process on 127.0.0.1 with a port the OS picks, for the devnet and tests.
//!
//! Invariants: the process is killed when the [`Anvil`] is dropped; its output is drained
//! by one thread for as long as it runs, so a full pipe never blocks it; a chain that does
//! not report its address within [`START_TIMEOUT`] is an error, never a silent skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use serde_json::json;

use super::{ChainClient, ChainError, Wallet};

/// How long anvil may take to bind and say where.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The secret key of anvil's first development account (from its public default mnemonic,
/// funded with 10 000 ether on every fresh anvil): a devnet's deployer. Worthless anywhere
/// else, and known to everyone.
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Where `npm ci` in `contracts/evm` puts the anvil binary, relative to the repository.
pub const NPM_BINARY: &str = "contracts/evm/node_modules/.bin/anvil";

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    url: String,
    binary: PathBuf,
    deployer: ChainClient,
}

impl std::fmt::Debug for Anvil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anvil")
            .field("url", &self.url)
            .field("binary", &self.binary)
            .field("pid", &self.child.id())
            .finish()
    }
}

impl Anvil {
    /// Starts `binary` on 127.0.0.1 with an OS-picked port (`--port 0`; anvil prints
    /// `Listening on 127.0.0.1:PORT` once bound) and connects its first account.
    pub async fn start(binary: &Path) -> Result<Anvil, ChainError> {
        Anvil::start_with(binary, &[]).await
    }

    /// As [`Anvil::start`], on EIP-155 chain `chain_id` instead of anvil's 31337: a second
    /// chain for tests of nodes that settle on different chains.
    pub async fn start_on_chain(binary: &Path, chain_id: u64) -> Result<Anvil, ChainError> {
        Anvil::start_with(binary, &["--chain-id", &chain_id.to_string()]).await
    }

    async fn start_with(binary: &Path, extra: &[&str]) -> Result<Anvil, ChainError> {
        let io = |source| ChainError::Io {
            path: binary.to_path_buf(),
            source,
        };
        let mut child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io)?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ChainError::Unexpected(
                "anvil's stdout was not piped".into(),
            ));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_string());
                    }
                }
            }
        });
        let addr = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(addr)) => addr,
            outcome => {
                let _ = child.kill();
                let status = child.wait().ok();
                let why = match outcome {
                    Err(_) => format!("no address within {START_TIMEOUT:?}"),
                    _ => format!("it exited ({status:?}) before it listened"),
                };
                return Err(ChainError::Unexpected(format!(
                    "anvil {} did not start: {why}",
                    binary.display()
                )));
            }
        };
        let url = format!("http://{addr}");
        let deployer = match ChainClient::connect(&url, Wallet::from_hex(DEV_KEY)?).await {
            Ok(client) => client,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Anvil {
            child,
            url,
            binary: binary.to_path_buf(),
            deployer,
        })
    }

    /// The JSON-RPC URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client as anvil's first development account ([`DEV_KEY`]).
    pub fn deployer(&self) -> &ChainClient {
        &self.deployer
    }

    /// Sets `who`'s native balance to `wei` (`anvil_setBalance`), to pay gas.
    pub async fn fund(&self, who: Address, wei: U256) -> Result<(), ChainError> {
        self.rpc("anvil_setBalance", json!([who, wei])).await
    }

    /// Moves the chain's clock `seconds` forward and mines a block at the new time.
    pub async fn advance(&self, seconds: u64) -> Result<(), ChainError> {
        self.rpc("evm_increaseTime", json!([seconds])).await?;
        self.mine().await
    }

    /// Turns mining on every transaction on or off (`evm_setAutomine`).
    pub async fn set_automine(&self, on: bool) -> Result<(), ChainError> {
        self.rpc("evm_setAutomine", json!([on])).await
    }

    /// Mines one block now (`evm_mine`).
    pub async fn mine(&self) -> Result<(), ChainError> {
        self.rpc("evm_mine", json!([])).await
    }

    /// Kills the chain now (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn rpc(&self, method: &'static str, params: serde_json::Value) -> Result<(), ChainError> {
        self.deployer
            .provider()
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .map(|_| ())
            .map_err(|e| super::contract::rpc_error(&self.url, e))
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}
