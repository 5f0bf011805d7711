//! `cairn ls`.

use clap::Args;
use reqwest::Method;

use super::Context;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// <cid>[/path]
    pub path: String,
}

pub async fn ls(ctx: &Context, args: LsArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let out = client
        .json(client.request(Method::GET, &format!("/ls/{}", args.path)))
        .await?;
    ctx.print(&out, || {
        let entries = out["entries"].as_array().cloned().unwrap_or_default();
        let lines: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["cid"].as_str().unwrap_or(""),
                    e["size"],
                    e["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        lines.join("\n")
    });
    Ok(())
}
