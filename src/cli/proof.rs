//! `cairn proof verify`: check a saved storage proof offline, with no daemon.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Subcommand;

use super::Context;
use crate::proof::{verify, AuditRecord, PieceCommitment};

#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Verify a saved proof against a piece root and size, with no network and no daemon.
    Verify {
        file: PathBuf,
        #[arg(long)]
        root: String,
        #[arg(long)]
        size: u64,
    },
}

pub fn proof(ctx: &Context, command: ProofCommand) -> anyhow::Result<()> {
    let ProofCommand::Verify { file, root, size } = command;
    let root: [u8; 32] = hex::decode(&root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("--root must be 64 hex characters"))?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let record = AuditRecord::from_bytes(&bytes)?;
    let commitment = PieceCommitment { root, size };
    // Offline, lateness is judged by the arrival time the auditor recorded.
    let verdict = verify(
        &record.challenge,
        &commitment,
        &record.proof,
        record.received_at,
    );
    let value = serde_json::json!({
        "valid": verdict.is_ok(),
        "reason": verdict.as_ref().err().map(|e| e.reason()),
        "samples": record.challenge.samples,
        "period": record.challenge.period,
    });
    match verdict {
        Ok(()) => ctx.print(&value, || {
            format!(
                "valid: {} samples of period {}",
                record.challenge.samples, record.challenge.period
            )
        }),
        Err(e) => {
            ctx.print(&value, || format!("invalid: {e}"))?;
            bail!("proof does not verify: {} ({e})", e.reason())
        }
    }
}
