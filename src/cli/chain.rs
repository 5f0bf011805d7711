//! `cairn chain deploy`: deploys the payment-channel contract (and, when no token is given, a
//! test token anyone may mint: devnets and tests only) with the given key, straight over
//! JSON-RPC (no daemon needed). Prints `{contract, token, chain_id}`.

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::Context;
use crate::chain::config::{check_http_url, parse_address};
use crate::chain::{anvil::DEV_KEY, ChainClient, Wallet};

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Deploy CairnChannels (and a TestToken when no --token is given).
    Deploy(DeployArgs),
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The chain's JSON-RPC URL (http://).
    #[arg(long)]
    pub rpc_url: String,
    /// The deployer's secret key (hex); anvil's first development account if not given.
    #[arg(long, env = "CAIRN_DEPLOY_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// An existing ERC-20 the channels hold; a fresh TestToken if not given.
    #[arg(long)]
    pub token: Option<String>,
}

pub async fn run(ctx: &Context, command: ChainCommand) -> anyhow::Result<()> {
    match command {
        ChainCommand::Deploy(args) => deploy(ctx, args).await,
    }
}

async fn deploy(ctx: &Context, args: DeployArgs) -> anyhow::Result<()> {
    check_http_url(&args.rpc_url).map_err(anyhow::Error::msg)?;
    let token = args
        .token
        .as_deref()
        .map(parse_address)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let key = args.private_key.as_deref().unwrap_or(DEV_KEY);
    let wallet = Wallet::from_hex(key).context("--private-key")?;
    let client = ChainClient::connect(&args.rpc_url, wallet).await?;
    let deployment = client.deploy(token).await?;
    let out = serde_json::json!({
        "contract": deployment.contract.to_checksum(None),
        "token": deployment.token.to_checksum(None),
        "chain_id": deployment.chain_id,
        "test_token": deployment.test_token,
    });
    ctx.print(&out, || {
        format!(
            "contract {}\ntoken {}{}\nchain id {}",
            deployment.contract,
            deployment.token,
            if deployment.test_token {
                " (test token: anyone may mint)"
            } else {
                ""
            },
            deployment.chain_id
        )
    })
}
