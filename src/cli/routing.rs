//! `cairn routing findprovs|provide`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Find peers that provide a CID, through the DHT.
    Findprovs { cid: String },
    /// Announce in the DHT that this node provides a CID it holds.
    Provide { cid: String },
}

pub async fn run(ctx: &Context, command: RoutingCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        RoutingCommand::Findprovs { cid } => {
            let out = client
                .json(client.request(Method::GET, &format!("/routing/findprovs/{cid}")))
                .await?;
            ctx.print(&out, || {
                let providers = out["providers"].as_array().cloned().unwrap_or_default();
                let lines: Vec<String> = providers
                    .iter()
                    .map(|p| p["id"].as_str().unwrap_or("").to_string())
                    .collect();
                lines.join("\n")
            });
        }
        RoutingCommand::Provide { cid } => {
            let out = client
                .json(client.request(Method::POST, &format!("/routing/provide/{cid}")))
                .await?;
            ctx.print(&out, || {
                format!("providing {}", out["cid"].as_str().unwrap_or(""))
            });
        }
    }
    Ok(())
}
