//! `cairn swarm connect|disconnect|peers`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;
use crate::api::types::{Connected, Disconnected, Peers};

#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Connect to a peer: /ip4/<ip>/tcp/<port>/p2p/<peer id> (or a QUIC address).
    Connect { addr: String },
    /// Close the connections to a peer: an address ending in /p2p/<peer id>, or the peer id.
    Disconnect { addr: String },
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
            let out: Connected = client.json(request).await?;
            ctx.print(&out, || format!("connected to {}", out.id))
        }
        SwarmCommand::Disconnect { addr } => {
            let request = client
                .request(Method::POST, "/swarm/disconnect")
                .query(&[("addr", &addr)]);
            let out: Disconnected = client.json(request).await?;
            ctx.print(&out, || format!("disconnect {} success", out.id))
        }
        SwarmCommand::Peers => {
            let out: Peers = client.get_json("/swarm/peers").await?;
            ctx.print(&out, || {
                let lines: Vec<String> = out
                    .peers
                    .iter()
                    .map(|p| format!("{}/p2p/{}", p.addr, p.id))
                    .collect();
                lines.join("\n")
            })
        }
    }
}
