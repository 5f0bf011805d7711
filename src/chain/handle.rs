//! The node's one handle on its chain: the `[chain]` config, the node's wallet, and a
//! connection to the contract made when first needed.
//!
//! Invariants: the node starts whether or not the RPC answers (a chain that is down delays
//! what needs it, nothing else); once connected, the contract holds code and its token is
//! the configured one (if `[chain] token` is set), checked once; every clone shares one
//! [`ChainClient`], so the wallet's transactions are sent one at a time (no nonce races).

use std::path::Path;
use std::sync::Arc;

use alloy::primitives::Address;

use super::config::ChainConfig;
use super::{ChainClient, ChainError, Channels, Domain, Wallet};

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChainHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ChainConfig,
    wallet: Wallet,
    /// Set on the first successful connection.
    channels: tokio::sync::OnceCell<Channels>,
}

impl ChainHandle {
    /// The handle of a chain-configured node: loads the data dir's wallet, creating it on
    /// first use. Does not reach the chain.
    pub fn open(config: ChainConfig, data_dir: &Path) -> Result<Self, ChainError> {
        let wallet = Wallet::load_or_create(data_dir)?;
        Ok(Self::with_wallet(config, wallet))
    }

    pub fn with_wallet(config: ChainConfig, wallet: Wallet) -> Self {
        ChainHandle {
            inner: Arc::new(Inner {
                config,
                wallet,
                channels: tokio::sync::OnceCell::new(),
            }),
        }
    }

    pub fn config(&self) -> &ChainConfig {
        &self.inner.config
    }

    pub fn wallet(&self) -> &Wallet {
        &self.inner.wallet
    }

    /// The node's EVM address.
    pub fn address(&self) -> Address {
        self.inner.wallet.address()
    }

    /// The contract, connecting first if this is the first call that reaches the chain.
    pub async fn channels(&self) -> Result<&Channels, ChainError> {
        self.inner
            .channels
            .get_or_try_init(|| async {
                let config = &self.inner.config;
                let client = ChainClient::connect(&config.rpc_url, self.inner.wallet.clone())
                    .await?
                    .with_receipt_timeout(std::time::Duration::from_secs(30));
                let channels = client.channels(config.contract).await?;
                if let Some(token) = config.token {
                    if channels.token() != token {
                        return Err(ChainError::Unexpected(format!(
                            "the contract {} holds token {}, [chain] token says {token}",
                            config.contract,
                            channels.token()
                        )));
                    }
                }
                Ok(channels)
            })
            .await
    }

    /// The EIP-712 domain, once connected (the chain id comes from the chain).
    pub async fn domain(&self) -> Result<Domain, ChainError> {
        Ok(self.channels().await?.domain())
    }

    /// The domain if a connection was made already, without reaching the chain.
    pub fn known_domain(&self) -> Option<Domain> {
        self.inner.channels.get().map(Channels::domain)
    }
}
