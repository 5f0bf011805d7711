//! `cairn piece commit`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum PieceCommand {
    /// Compute a DAG's piece commitment (BLAKE3 root and size of its canonical CAR) and keep
    /// what answering challenges needs.
    Commit { cid: String },
}

pub async fn run(ctx: &Context, command: PieceCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        PieceCommand::Commit { cid } => {
            let out = client
                .json(client.request(Method::POST, &format!("/piece/{cid}")))
                .await?;
            ctx.print(&out, || {
                format!(
                    "piece root: {}\npiece size: {}",
                    out["piece_root"].as_str().unwrap_or(""),
                    out["piece_size"]
                )
            });
        }
    }
    Ok(())
}
