//! `cairn daemon`: runs the node until `SIGTERM` or `SIGINT`, then stops it gracefully
//! ([`Daemon::stop`]: tasks finish or are cancelled, the network shuts down, what periodic tasks
//! hold is written, the database is closed, `daemon.json` removed) and exits 0.

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
    // Before start-up, so a stop asked for while the node starts is not lost.
    let mut stop = super::signals::Stop::install()?;
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
        println!("daemon ready (Ctrl-C or SIGTERM to stop)");
    }
    let signal = stop.wait().await;
    tracing::info!(signal, "stopping");
    daemon.stop().await;
    tracing::info!("stopped");
    Ok(())
}
