//! `cairn swarm connect|peers`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Connect to a peer: /ip4/<ip>/tcp/<port>/p2p/<peer id> (or a QUIC address).
    Connect { addr: String },
    /// List connected peers.
    Peers,
}

pub async fn run(ctx: &Context, command: SwarmCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        SwarmCommand::Connect { addr } => {
            let request = client
                .request(Method::POST, "/swarm/connect")
                .query(&[("addr", &addr)]);
            let out = client.json(request).await?;
            ctx.print(&out, || {
                format!("connected to {}", out["id"].as_str().unwrap_or(""))
            });
        }
        SwarmCommand::Peers => {
            let out = client
                .json(client.request(Method::GET, "/swarm/peers"))
                .await?;
            ctx.print(&out, || {
                let peers = out["peers"].as_array().cloned().unwrap_or_default();
                let lines: Vec<String> = peers
                    .iter()
                    .map(|p| {
                        format!(
                            "{}/p2p/{}",
                            p["addr"].as_str().unwrap_or(""),
                            p["id"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                lines.join("\n")
            });
        }
    }
    Ok(())
}
