//! `cairn keep <cid> [policy]`, `cairn keep ls|show|rm`: persistent pinning with a
//! replication policy, through the daemon's `/keeps` API.
//!
//! Policy flags left out take the node's `[keeper]` defaults (not the keep's earlier
//! values): each `cairn keep` states the whole policy.

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::provider::parse_duration;
use super::Context;

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
            let out = client.json(client.request(Method::GET, "/keeps")).await?;
            ctx.print(&out, || table(&out));
        }
        (Some(KeepCommand::Show { cid }), _) => {
            let out = client
                .json(client.request(Method::GET, &format!("/keeps/{cid}")))
                .await?;
            ctx.print(&out, || show(&out));
        }
        (Some(KeepCommand::Rm { cid }), _) => {
            let out = client
                .json(client.request(Method::DELETE, &format!("/keeps/{cid}")))
                .await?;
            ctx.print(&out, || format!("no longer keeping {cid}"));
        }
        (None, cid) => {
            let body = serde_json::json!({
                "cid": cid.unwrap_or_default(),
                "replicas": args.replicas,
                "duration_secs": args.duration.map(|d| d.as_secs()),
                "max_price_per_gib_month": args.max_price_per_gib_month,
                "challenge_period_secs": args.challenge_period.map(|d| d.as_secs()),
            });
            let out = client
                .json(client.request(Method::POST, "/keeps").json(&body))
                .await?;
            ctx.print(&out, || {
                format!(
                    "keeping {} (request {}): {}",
                    text(&out["cid"]),
                    text(&out["id"]),
                    status(&out)
                )
            });
        }
    }
    Ok(())
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn status(keep: &Value) -> String {
    format!(
        "{} ({})",
        text(&keep["status"]),
        text(&keep["status_details"])
    )
}

fn table(out: &Value) -> String {
    let mut lines = vec![format!(
        "{:<62} {:<8} {:>9} {:>9} {:>10}  REQUEST",
        "CID", "STATUS", "REPLICAS", "SHORTFALL", "PAID"
    )];
    for k in out["keeps"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:<62} {:<8} {:>9} {:>9} {:>10}  {}",
            text(&k["cid"]),
            text(&k["status"]),
            format!("{}/{}", k["healthy"], k["policy"]["replicas"]),
            k["shortfall"].to_string(),
            k["paid"].to_string(),
            text(&k["id"]),
        ));
    }
    lines.join("\n")
}

fn time(ms: &Value) -> String {
    let ms = ms.as_i64().unwrap_or(0).max(0) as u64;
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn show(k: &Value) -> String {
    let p = &k["policy"];
    let cap = match p["max_price_per_gib_month"].as_u64() {
        Some(c) => format!("at most {c} per GiB-month"),
        None => "no price cap".into(),
    };
    let secs = |v: &Value| humantime::format_duration(Duration::from_secs(v.as_u64().unwrap_or(0)));
    let mut lines = vec![
        format!("{}  {}", text(&k["cid"]), status(k)),
        format!(
            "request {}; {} replicas for {}, {cap}, a proof every {}; paid {}",
            text(&k["id"]),
            p["replicas"],
            secs(&p["duration_secs"]),
            secs(&p["challenge_period_secs"]),
            k["paid"]
        ),
        String::new(),
        format!(
            "{:<53} {:<9} {:<10} {:<28} {:>6} {:>8}",
            "PROVIDER", "KEEP", "DEAL", "LAST PROOF", "SCORE", "PAID"
        ),
    ];
    for r in k["providers"].as_array().into_iter().flatten() {
        let last = &r["last_proof"];
        let proof = if last.is_null() {
            "none yet".to_string()
        } else {
            format!("{} {}", text(&last["outcome"]), time(&last["issued_at"]))
        };
        lines.push(format!(
            "{:<53} {:<9} {:<10} {:<28} {:>6.2} {:>8}",
            text(&r["peer"]),
            text(&r["state"]),
            text(&r["deal_state"]),
            proof,
            r["score"]["value"].as_f64().unwrap_or(0.0),
            r["paid"].to_string(),
        ));
        lines.push(format!("  deal {}", text(&r["deal"])));
        if let Some(reason) = r["reason"].as_str() {
            lines.push(format!("  ended: {reason}"));
        }
        lines.push(format!("  {}", text(&r["score"]["explanation"])));
    }
    lines.push(String::new());
    lines.push("what the keeper did:".into());
    for e in k["events"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  {} {:<14} {}",
            time(&e["at"]),
            text(&e["kind"]),
            text(&e["detail"])
        ));
    }
    lines.join("\n")
}
