//! `cairn repo verify [--repair]`, `cairn repo gc` (the same as `cairn gc`), `cairn repo stat`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;
use crate::api::types::RepoStat;

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Check every stored block against its CID (as `ipfs repo verify` does), and every block
    /// a pin wants; fails if any is bad and not repaired.
    Verify {
        /// Fetch bad blocks that pins want again from peers (Bitswap), and remove bad blocks
        /// no pin wants.
        #[arg(long)]
        repair: bool,
    },
    /// Remove every stored block that no pin references (the same as `cairn gc`).
    Gc,
    /// What the repository holds: blocks, bytes, quota, path.
    Stat {
        /// Print only the sizes (RepoSize and StorageMax), as Kubo's --size-only.
        #[arg(long)]
        size_only: bool,
        /// Print sizes in human units (KiB, MiB, ...).
        #[arg(short = 'H', long)]
        human: bool,
    },
}

pub async fn run(ctx: &Context, command: RepoCommand) -> anyhow::Result<()> {
    let repair = match command {
        RepoCommand::Verify { repair } => repair,
        RepoCommand::Gc => return super::gc::gc(ctx).await,
        RepoCommand::Stat { size_only, human } => return stat(ctx, size_only, human).await,
    };
    let client = ctx.client()?;
    let path = if repair {
        "/repo/verify?repair=true"
    } else {
        "/repo/verify"
    };
    let out = client.json(client.request(Method::POST, path)).await?;
    ctx.print(&out, || human(&out, repair))?;
    let count = |field: &str| out[field].as_u64().unwrap_or(0);
    let fixed = count("repaired") + count("removed");
    if count("bad") > fixed {
        anyhow::bail!(
            "{} of {} blocks are bad{}",
            count("bad") - fixed,
            count("checked"),
            if repair {
                " and could not be repaired"
            } else {
                " (run `cairn repo verify --repair`)"
            }
        );
    }
    Ok(())
}

async fn stat(ctx: &Context, size_only: bool, human: bool) -> anyhow::Result<()> {
    let out: RepoStat = ctx.client()?.get_json("/repo/stat").await?;
    let size = |bytes: u64| match human {
        true => bytesize::ByteSize::b(bytes).display().iec().to_string(),
        false => bytes.to_string(),
    };
    ctx.print(&out, || {
        let max = out.storage_max.map_or("unlimited".to_string(), size);
        let mut lines = vec![
            format!("RepoSize:   {}", size(out.repo_size)),
            format!("StorageMax: {max}"),
        ];
        if !size_only {
            lines.insert(0, format!("NumObjects: {}", out.num_objects));
            lines.push(format!("RepoPath:   {}", out.repo_path));
            lines.push(format!("Version:    {}", out.version));
        }
        lines.join("\n")
    })
}

fn human(out: &serde_json::Value, repair: bool) -> String {
    let mut lines = Vec::new();
    for block in out["blocks"].as_array().into_iter().flatten() {
        let cid = block["cid"].as_str().unwrap_or("");
        let problem = block["problem"].as_str().unwrap_or("");
        let pinned = if block["pinned"] == true {
            ", pinned"
        } else {
            ""
        };
        let outcome = match block["outcome"].as_str().unwrap_or("") {
            "repaired" => "repaired (fetched again)".to_string(),
            "removed" => "removed (no pin wanted it)".to_string(),
            "unrepaired" => format!(
                "NOT repaired: {}",
                block["reason"].as_str().unwrap_or("unknown")
            ),
            _ => "found".to_string(),
        };
        lines.push(format!("{cid}: {problem}{pinned}: {outcome}"));
    }
    let mut summary = format!(
        "checked {} blocks: {} intact, {} bad",
        out["checked"], out["intact"], out["bad"]
    );
    if repair {
        summary.push_str(&format!(
            "; {} repaired, {} removed, {} not repaired",
            out["repaired"], out["removed"], out["unrepaired"]
        ));
    }
    lines.push(summary);
    lines.join("\n")
}
