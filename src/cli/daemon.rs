//! `cairn daemon`.

use clap::Args;

use super::Context;
use crate::config::Config;
use crate::node::Daemon;

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// With a new data dir, let the OS pick every port.
    #[arg(long)]
    pub random_ports: bool,
}

pub async fn run(ctx: &Context, args: DaemonArgs) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    if !data.is_initialized() {
        data.init(&Config::new(args.random_ports))?;
        eprintln!("initialized {}", data.root().display());
    }
    let daemon = Daemon::start(data).await?;
    let info = &daemon.info;
    if ctx.json {
        println!("{}", serde_json::to_string(info)?);
    } else {
        println!(
            "peer id: {}\napi:     {}\ngateway: {}",
            info.id, info.api, info.gateway
        );
        for addr in &info.addresses {
            println!("swarm:   {addr}");
        }
        println!("daemon ready (Ctrl-C to stop)");
    }
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping");
    daemon.stop().await;
    Ok(())
}
