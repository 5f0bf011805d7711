//! `cairn keep <cid> [policy]`, `cairn keep ls|show|rm`: persistent pinning with a
//! replication policy, through the daemon's `/keeps` API.
//!
//! Policy flags left out take the node's `[keeper]` defaults (not the keep's earlier
//! values): each `cairn keep` states the whole policy.

use std::time::Duration;

use super::Context;
use crate::api::types::{Keep, KeepRequest, Keeps, KeepsRemoved};
use crate::market::DealState;
use crate::units::{format_secs, format_unix_ms, parse_duration};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct KeepArgs {
    #[command(subcommand)]
    pub command: Option<KeepCommand>,
    /// The CID to keep (its DAG is pinned here too: the copy repairs are made from).
    #[arg(required = true)]
    pub cid: Option<String>,
    /// Deals with distinct providers.
    #[arg(long)]
    pub replicas: Option<u32>,
    /// Each deal's term, e.g. 90d.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Highest price accepted, base units per GiB per 30-day month.
    #[arg(long)]
    pub max_price_per_gib_month: Option<u64>,
    /// How often each provider must prove it holds the data, e.g. 1h.
    #[arg(long, value_parser = parse_duration)]
    pub challenge_period: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub enum KeepCommand {
    /// Every keep: status, healthy replicas, shortfall, amount paid.
    Ls,
    /// One keep: per provider its deal, last proof, score and amount paid; the keeper's
    /// decisions and why.
    Show { cid: String },
    /// Stop keeping a CID: its deals are cancelled (no longer challenged or paid).
    Rm { cid: String },
}

pub async fn run(ctx: &Context, args: KeepArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match (args.command, args.cid) {
        (Some(KeepCommand::Ls), _) => {
            let out: Keeps = client.get_json("/keeps").await?;
            ctx.print(&out, || table(&out.keeps))
        }
        (Some(KeepCommand::Show { cid }), _) => {
            let out: Keep = client.get_json(&format!("/keeps/{cid}")).await?;
            ctx.print(&out, || show(&out))
        }
        (Some(KeepCommand::Rm { cid }), _) => {
            let out: KeepsRemoved = client.delete_json(&format!("/keeps/{cid}")).await?;
            ctx.print(&out, || format!("no longer keeping {cid}"))
        }
        (None, cid) => {
            let request = KeepRequest {
                cid: cid.unwrap_or_default(),
                replicas: args.replicas,
                duration_secs: args.duration.map(|d| d.as_secs()),
                max_price_per_gib_month: args.max_price_per_gib_month,
                challenge_period_secs: args.challenge_period.map(|d| d.as_secs()),
            };
            let out: Keep = client.post_json("/keeps", &request).await?;
            ctx.print(&out, || {
                format!("keeping {} (request {}): {}", out.cid, out.id, status(&out))
            })
        }
    }
}

fn status(keep: &Keep) -> String {
    format!(
        "{} ({})",
        keep.status.as_str(),
        keep.status_details.as_deref().unwrap_or("")
    )
}

fn table(keeps: &[Keep]) -> String {
    let mut lines = vec![format!(
        "{:<62} {:<8} {:>9} {:>9} {:>10}  REQUEST",
        "CID", "STATUS", "REPLICAS", "SHORTFALL", "PAID"
    )];
    for k in keeps {
        lines.push(format!(
            "{:<62} {:<8} {:>9} {:>9} {:>10}  {}",
            k.cid,
            k.status.as_str(),
            format!("{}/{}", k.healthy, k.policy.replicas),
            k.shortfall,
            k.paid,
            k.id,
        ));
    }
    lines.join("\n")
}

fn show(k: &Keep) -> String {
    let p = &k.policy;
    let cap = match p.max_price_per_gib_month {
        Some(c) => format!("at most {c} per GiB-month"),
        None => "no price cap".into(),
    };
    let mut lines = vec![
        format!("{}  {}", k.cid, status(k)),
        format!(
            "request {}; {} replicas for {}, {cap}, a proof every {}; paid {}",
            k.id,
            p.replicas,
            format_secs(p.duration_secs),
            format_secs(p.challenge_period_secs),
            k.paid
        ),
        String::new(),
        format!(
            "{:<53} {:<9} {:<10} {:<28} {:>6} {:>8}",
            "PROVIDER", "KEEP", "DEAL", "LAST PROOF", "SCORE", "PAID"
        ),
    ];
    for r in &k.providers {
        let proof = match &r.last_proof {
            None => "none yet".to_string(),
            Some(last) => format!("{} {}", last.outcome, format_unix_ms(last.issued_at)),
        };
        lines.push(format!(
            "{:<53} {:<9} {:<10} {:<28} {:>6.2} {:>8}",
            r.peer,
            r.state,
            r.deal_state.map(DealState::as_str).unwrap_or(""),
            proof,
            r.score.value,
            r.paid,
        ));
        lines.push(format!("  deal {}", r.deal));
        if let Some(reason) = &r.reason {
            lines.push(format!("  ended: {reason}"));
        }
        lines.push(format!("  {}", r.score.explanation));
    }
    lines.push(String::new());
    lines.push("what the keeper did:".into());
    for e in &k.events {
        lines.push(format!(
            "  {} {:<14} {}",
            format_unix_ms(e.at),
            e.kind,
            e.detail
        ));
    }
    lines.join("\n")
}
