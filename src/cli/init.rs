//! `cairn init`.

use anyhow::Context as _;
use clap::Args;

use super::Context;
use crate::chain::config::{parse_address, ChainConfig};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Let the OS pick the API, gateway and swarm ports (many nodes on one machine).
    #[arg(long)]
    pub random_ports: bool,
    /// Settle channels on this EVM chain (JSON-RPC URL, http://); needs --contract.
    #[arg(long, value_name = "URL", requires = "contract")]
    pub chain_rpc: Option<String>,
    /// The CairnChannels contract (`cairn chain deploy` prints it).
    #[arg(long, value_name = "0x..", requires = "chain_rpc")]
    pub contract: Option<String>,
    /// The channel token, checked against the contract's when the node connects.
    #[arg(long, value_name = "0x..", requires = "contract")]
    pub token: Option<String>,
}

pub fn run(ctx: &Context, args: InitArgs) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    let mut config = Config::new(args.random_ports);
    if let (Some(rpc), Some(contract)) = (args.chain_rpc, args.contract) {
        let contract = parse_address(&contract).map_err(anyhow::Error::msg)?;
        let token = args
            .token
            .as_deref()
            .map(parse_address)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let chain = ChainConfig::new(rpc, contract, token);
        chain
            .validate()
            .map_err(|(key, reason)| anyhow::anyhow!("{key}: {reason}"))?;
        config.chain = Some(chain);
    }
    data.init(&config)?;
    // The node's EVM wallet (0600), beside its ed25519 identity.
    let wallet = crate::chain::Wallet::load_or_create(data.root()).context("wallet")?;
    let key = data.load_identity()?;
    let peer = crate::config::libp2p_keypair(&key)?.public().to_peer_id();
    let root = data.root().display().to_string();
    let address = wallet.address().to_checksum(None);
    ctx.print(
        &serde_json::json!({"path": root, "id": peer.to_string(), "address": address}),
        || format!("initialized {root}\npeer id: {peer}\nwallet: {address}"),
    )
}
