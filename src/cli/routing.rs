//! `cairn routing findprovs|provide`.

use super::Context;
use crate::api::types::{FoundProviders, Provided};
use clap::Subcommand;

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
            let out: FoundProviders = client
                .get_json(&format!("/routing/findprovs/{cid}"))
                .await?;
            ctx.print(&out, || {
                let lines: Vec<&str> = out.providers.iter().map(|p| p.id.as_str()).collect();
                lines.join("\n")
            })
        }
        RoutingCommand::Provide { cid } => {
            let out: Provided = client
                .post_empty(&format!("/routing/provide/{cid}"))
                .await?;
            ctx.print(&out, || format!("providing {}", out.cid))
        }
    }
}
