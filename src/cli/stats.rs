//! `cairn stats bw`: bytes moved over libp2p since the daemon started.

use clap::Subcommand;

use super::Context;
use crate::api::types::BandwidthStats;

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Bandwidth: totals in and out over every transport, and average rates.
    Bw,
}

pub async fn run(ctx: &Context, command: StatsCommand) -> anyhow::Result<()> {
    let StatsCommand::Bw = command;
    let out: BandwidthStats = ctx.client()?.get_json("/stats/bw").await?;
    let size = |b: u64| bytesize::ByteSize::b(b).display().iec().to_string();
    ctx.print(&out, || {
        format!(
            "Bandwidth\nTotalIn:  {}\nTotalOut: {}\nRateIn:   {}/s\nRateOut:  {}/s",
            size(out.total_in),
            size(out.total_out),
            size(out.rate_in),
            size(out.rate_out)
        )
    })
}
