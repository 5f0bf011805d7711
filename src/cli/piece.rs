//! `cairn piece commit`.

use super::Context;
use crate::api::types::Piece;
use clap::Subcommand;

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
            let out: Piece = client.post_empty(&format!("/piece/{cid}")).await?;
            ctx.print(&out, || {
                format!(
                    "piece root: {}\npiece size: {}",
                    out.piece_root, out.piece_size
                )
            })
        }
    }
}
