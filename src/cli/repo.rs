//! `cairn repo verify [--repair]`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;

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
}

pub async fn run(ctx: &Context, command: RepoCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let RepoCommand::Verify { repair } = command;
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
