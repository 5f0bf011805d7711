//! `cairn audit`: challenge a provider to prove it holds a piece.

use std::path::PathBuf;

use super::Context;
use crate::api::types::{AuditReport, AuditRequest};
use anyhow::{bail, Context as _};
use clap::Args;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The provider: a connected peer id, or a multiaddr ending in /p2p/<peer id>.
    pub peer: String,
    /// Piece root (hex BLAKE3), as `cairn piece commit` prints it.
    #[arg(long)]
    pub root: String,
    /// Piece size in bytes.
    #[arg(long)]
    pub size: u64,
    /// Chunks to sample (1..=64).
    #[arg(long, default_value_t = 20)]
    pub samples: u32,
    /// How long the provider has to answer, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Save the challenge and proof (DAG-CBOR) for `cairn proof verify`.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

pub async fn audit(ctx: &Context, args: AuditArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let request = AuditRequest {
        peer: args.peer,
        root: args.root,
        size: args.size,
        samples: Some(args.samples),
        timeout_ms: Some(args.timeout_ms),
    };
    let report: AuditReport = client.post_json("/audit", &request).await?;
    if let (Some(path), Some(record)) = (&args.save, &report.record) {
        std::fs::write(path, hex::decode(record)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    ctx.print(&report, || {
        format!(
            "{} {} ({} samples, {} ms, proof {} bytes){}",
            report.outcome,
            report.peer,
            report.samples,
            report.latency_ms,
            report.proof_bytes,
            report
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )
    })?;
    if !report.passed {
        bail!(
            "audit failed: {}",
            report.reason.as_deref().unwrap_or("no valid proof")
        );
    }
    Ok(())
}
