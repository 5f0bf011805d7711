//! `cairn init`.

use clap::Args;

use super::Context;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Let the OS pick the API, gateway and swarm ports (many nodes on one machine).
    #[arg(long)]
    pub random_ports: bool,
}

pub fn run(ctx: &Context, args: InitArgs) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    data.init(&Config::new(args.random_ports))?;
    let key = data.load_identity()?;
    let peer = crate::config::libp2p_keypair(&key)?.public().to_peer_id();
    let root = data.root().display().to_string();
    ctx.print(
        &serde_json::json!({"path": root, "id": peer.to_string()}),
        || format!("initialized {root}\npeer id: {peer}"),
    )
}
