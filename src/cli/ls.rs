//! `cairn ls`.

use super::Context;
use crate::api::types::Listing;
use clap::Args;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// <cid>[/path]
    pub path: String,
}

pub async fn ls(ctx: &Context, args: LsArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let out: Listing = client.get_json(&format!("/ls/{}", args.path)).await?;
    ctx.print(&out, || {
        let lines: Vec<String> = out
            .entries
            .iter()
            .map(|e| format!("{} {} {}", e.cid, e.size, e.name))
            .collect();
        lines.join("\n")
    })
}
