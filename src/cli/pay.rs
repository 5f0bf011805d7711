//! `cairn pay ...` and `cairn balance`: payment channels as payer or payee, their receipts
//! (exported as a CAR anyone can verify offline), and balances per peer.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};

use super::table::Table;
use super::Context;
use crate::api::types::{Balances, Channel, Channels, OpenChannel, Receipts};
use crate::content::car::{CarReader, CarWriter};
use crate::pay::history::verify_history;
use crate::pay::{ChannelOpen, Receipt};
use crate::signed::Signed;

#[derive(Debug, Subcommand)]
pub enum PayCommand {
    /// Open or close a payment channel.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Every channel, as payer or payee: deposit, paid (highest receipt), pending, state.
    Channels,
    /// A channel's receipts, highest last; `--export` writes them to a CAR.
    Receipts(ReceiptsArgs),
    /// Verify an exported receipts CAR offline: signatures, monotonicity, totals.
    Verify { file: PathBuf },
    /// Payee of a channel on chain: cash its highest receipt now ({claimed, tx}).
    Claim { channel: String },
    /// Payer of a channel on chain: after the challenge window, take back what was not paid.
    Withdraw { channel: String },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Open a channel to a peer, committing a deposit (base units).
    Open {
        peer: String,
        #[arg(long)]
        deposit: u64,
    },
    /// Settle a channel with the highest receipt the payee holds; on chain, start the close
    /// (the payee may claim until the challenge window ends, then `cairn pay withdraw`). The
    /// channel is `closing` meanwhile and takes no new deal or receipt.
    Close { channel: String },
    /// Every channel, as `cairn pay channels`.
    List,
    /// One channel: deposit, paid, state (`open`, `closing`, `closed`), its escrow on chain.
    Show { channel: String },
}

#[derive(Debug, Args)]
pub struct ReceiptsArgs {
    pub channel: String,
    /// Write the channel's signed open and receipts to this CAR file.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
}

pub async fn run(ctx: &Context, command: PayCommand) -> anyhow::Result<()> {
    match command {
        PayCommand::Channel(ChannelCommand::Open { peer, deposit }) => {
            let client = ctx.client()?;
            let request = OpenChannel { peer, deposit };
            let channel: Channel = client.post_json("/pay/channels", &request).await?;
            ctx.print(&channel, || channel_line(&channel))
        }
        PayCommand::Channel(ChannelCommand::Close { channel }) => {
            let client = ctx.client()?;
            let path = format!("/pay/channels/{channel}/close");
            let closed: Channel = client.post_empty(&path).await?;
            ctx.print(&closed, || {
                if closed.onchain.is_some() {
                    let from = closed.closes_at.map_or("-".to_string(), |t| t.to_string());
                    return format!(
                        "{channel} is closing on chain: the payee may claim until {from}, then `cairn pay withdraw {channel}`"
                    );
                }
                let settled = closed.settled.map_or("null".to_string(), |s| s.to_string());
                format!("closed {channel}: settled {settled}")
            })
        }
        PayCommand::Channel(ChannelCommand::Show { channel }) => {
            let client = ctx.client()?;
            let shown: Channel = client.get_json(&format!("/pay/channels/{channel}")).await?;
            ctx.print(&shown, || channel_line(&shown))
        }
        PayCommand::Channels | PayCommand::Channel(ChannelCommand::List) => {
            let client = ctx.client()?;
            let list: Channels = client.get_json("/pay/channels").await?;
            ctx.print(&list, || channels_table(&list.channels))
        }
        PayCommand::Receipts(args) => receipts(ctx, args).await,
        PayCommand::Verify { file } => verify(ctx, &file).await,
        PayCommand::Claim { channel } => {
            let client = ctx.client()?;
            let path = format!("/pay/channels/{channel}/claim");
            let claimed: serde_json::Value = client.post_empty(&path).await?;
            ctx.print(&claimed, || match claimed["tx"].as_str() {
                Some(tx) => format!("claimed {} on {channel} (tx {tx})", claimed["claimed"]),
                None => format!("nothing new to claim on {channel}"),
            })
        }
        PayCommand::Withdraw { channel } => {
            let client = ctx.client()?;
            let path = format!("/pay/channels/{channel}/withdraw");
            let withdrawn: serde_json::Value = client.post_empty(&path).await?;
            ctx.print(&withdrawn, || {
                format!(
                    "withdrew {} from {channel} (the payee was paid {}; tx {})",
                    withdrawn["refund"], withdrawn["paid_out"], withdrawn["tx"]
                )
            })
        }
    }
}

pub async fn balance(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let balance: Balances = client.get_json("/pay/balance").await?;
    ctx.print(&balance, || {
        let header = ["PEER", "EARNED", "SPENT", "OWED TO US", "WE OWE"];
        let mut table = Table::new(&header).right_aligned(&[1, 2, 3, 4]);
        for p in &balance.peers {
            table.row(vec![
                p.peer.clone(),
                p.earned.to_string(),
                p.spent.to_string(),
                p.owed_to_us.to_string(),
                p.we_owe.to_string(),
            ]);
        }
        table.render()
    })
}

fn channel_line(c: &Channel) -> String {
    format!(
        "{} {} {} deposit {} paid {} pending {} {}",
        c.id, c.role, c.peer, c.deposit, c.paid, c.pending, c.state
    )
}

fn channels_table(channels: &[Channel]) -> String {
    if channels.is_empty() {
        return "no channels".into();
    }
    let header = [
        "CHANNEL", "ROLE", "PEER", "DEPOSIT", "PAID", "PENDING", "STATE",
    ];
    let mut table = Table::new(&header).right_aligned(&[3, 4, 5]);
    for c in channels {
        table.row(vec![
            c.id.clone(),
            c.role.clone(),
            c.peer.clone(),
            c.deposit.to_string(),
            c.paid.to_string(),
            c.pending.to_string(),
            c.state.clone(),
        ]);
    }
    table.render()
}

async fn receipts(ctx: &Context, args: ReceiptsArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let path = format!("/pay/channels/{}/receipts", args.channel);
    let history: Receipts = client.get_json(&path).await?;
    if let Some(file) = &args.export {
        export(&history, file).await?;
    }
    ctx.print(&history, || {
        let mut out = String::new();
        for r in &history.receipts {
            out.push_str(&format!(
                "seq {} amount {} deal {}\n",
                r.seq,
                r.amount,
                r.deal.as_deref().unwrap_or("-")
            ));
        }
        if let Some(file) = &args.export {
            out.push_str(&format!("exported to {}", file.display()));
        }
        out.trim_end().to_string()
    })
}

fn hex_field(text: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(text).with_context(|| format!("the daemon's {what} is not hex"))
}

/// Writes the signed open (the root; its CID is the channel id of a ledger channel) and every
/// receipt as DAG-CBOR blocks.
async fn export(history: &Receipts, file: &Path) -> anyhow::Result<()> {
    let open_bytes = hex_field(&history.open, "channel open")?;
    let open = Signed::<ChannelOpen>::from_bytes(&open_bytes, crate::pay::MAX_OPEN_SIZE)?;
    let root = open.cid()?;
    let out = tokio::fs::File::create(file)
        .await
        .with_context(|| format!("cannot create {}", file.display()))?;
    let mut car = CarWriter::new(out, &[root]).await?;
    car.write_block(&root, &open_bytes).await?;
    for r in &history.receipts {
        let bytes = hex_field(&r.signed, "receipt")?;
        let receipt = Signed::<Receipt>::from_bytes(&bytes, crate::pay::MAX_RECEIPT_SIZE)?;
        car.write_block(&receipt.cid()?, &bytes).await?;
    }
    car.finish().await?;
    Ok(())
}

async fn verify(ctx: &Context, file: &Path) -> anyhow::Result<()> {
    let input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let mut car = CarReader::new(input).await?;
    let root = *car
        .roots()
        .first()
        .ok_or_else(|| anyhow!("the CAR names no root (the channel open)"))?;
    let mut open = None;
    let mut receipts = Vec::new();
    while let Some(block) = car.next_block().await? {
        let (cid, data) = block.into_parts();
        if cid == root {
            open = Some(Signed::<ChannelOpen>::from_bytes(
                &data,
                crate::pay::MAX_OPEN_SIZE,
            )?);
        } else {
            receipts.push(
                Signed::<Receipt>::from_bytes(&data, crate::pay::MAX_RECEIPT_SIZE)
                    .with_context(|| format!("block {cid} is not a receipt"))?,
            );
        }
    }
    let open = open.ok_or_else(|| anyhow!("the CAR lacks its root block (the channel open)"))?;
    receipts.sort_by_key(|r| r.payload.seq);
    let report = match verify_history(&open, &receipts) {
        Ok(report) => report,
        Err(e) => bail!("invalid receipts: {e} ({})", e.error.reason()),
    };
    let value = serde_json::json!({
        "valid": true, "channel": report.channel.to_string(), "payer": report.payer,
        "payee": report.payee, "deposit": report.deposit.0, "receipts": report.receipts,
        "total": report.total.0, "last_seq": report.last_seq,
    });
    ctx.print(&value, || {
        format!(
            "valid: {} receipts on {}, total {} of deposit {}",
            report.receipts, report.channel, report.total.0, report.deposit.0
        )
    })
}
