//! `cairn keep <cid> [policy]`, `cairn keep ls|show|rm|restore`: persistent pinning with a
//! replication policy (full replicas, or `--erasure k+m` slots), through the daemon's `/keeps`
//! API.
//!
//! Policy flags left out take the node's `[keeper]` defaults (not the keep's earlier
//! values): each `cairn keep` states the whole policy.

use std::time::Duration;

use super::table::Table;
use super::Context;
use crate::api::types::{Keep, KeepRequest, KeepRestore, Keeps, KeepsRemoved};
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
    /// Hold the CID as k data + m parity slots on k+m distinct providers (e.g. 4+4): any k
    /// restore it. Instead of --replicas.
    #[arg(long, conflicts_with = "replicas")]
    pub erasure: Option<String>,
    /// With --erasure: rebuild lost slots once fewer than this many are held (default k+1).
    #[arg(long, requires = "erasure")]
    pub repair_threshold: Option<u32>,
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
    /// Rebuild an erasure-coded keep's DAG from any k of its slots (fetched from providers)
    /// when the copy here is gone or damaged; every block is checked, then pinned again.
    Restore { cid: String },
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
        (Some(KeepCommand::Restore { cid }), _) => {
            let path = format!("/keeps/{cid}/restore");
            let out: KeepRestore = client.post_json(&path, &serde_json::json!({})).await?;
            ctx.print(&out, || restored(&out))
        }
        (None, cid) => {
            let request = KeepRequest {
                cid: cid.unwrap_or_default(),
                replicas: args.replicas,
                duration_secs: args.duration.map(|d| d.as_secs()),
                max_price_per_gib_month: args.max_price_per_gib_month,
                challenge_period_secs: args.challenge_period.map(|d| d.as_secs()),
                erasure: args.erasure,
                repair_threshold: args.repair_threshold,
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
    let header = ["CID", "STATUS", "REPLICAS", "SHORTFALL", "PAID", "REQUEST"];
    let mut table = Table::new(&header).right_aligned(&[2, 3, 4]);
    for k in keeps {
        table.row(vec![
            k.cid.clone(),
            k.status.as_str().to_string(),
            match &k.erasure {
                Some(e) => format!("{}/{} slots", e.healthy, e.k + e.m),
                None => format!("{}/{}", k.healthy, k.policy.replicas),
            },
            k.shortfall.to_string(),
            k.paid.to_string(),
            k.id.clone(),
        ]);
    }
    table.render()
}

fn restored(r: &KeepRestore) -> String {
    let from: Vec<String> = r
        .slots
        .iter()
        .map(|s| format!("slot {} ({})", s.index, s.source))
        .collect();
    let mut lines = vec![format!(
        "restored {} from {} in {} ms: {} blocks, a piece of {} bytes, pinned",
        r.cid,
        from.join(", "),
        r.took_ms,
        r.blocks,
        r.piece_size
    )];
    for (index, why) in &r.refused {
        lines.push(format!("  slot {index} passed over: {why}"));
    }
    lines.join("\n")
}

/// The slot table of an erasure-coded keep, with its health line.
fn slot_lines(k: &Keep) -> Vec<String> {
    let Some(e) = &k.erasure else {
        return Vec::new();
    };
    let mut lines = vec![
        format!(
            "{} slots, erasure root {}; health {:+} ({} of {} healthy, k = {}), repair below {} held{}",
            e.scheme,
            e.manifest.as_deref().unwrap_or("(not encoded yet)"),
            e.health,
            e.healthy,
            e.k + e.m,
            e.k,
            e.repair_threshold,
            if e.recoverable {
                String::new()
            } else {
                format!("; unrecoverable from healthy slots alone, missing {:?}", e.missing)
            }
        ),
        String::new(),
    ];
    let header = [
        "SLOT",
        "STATE",
        "PROVIDER",
        "DEAL",
        "LAST PROOF",
        "SCORE",
        "PAID",
    ];
    let mut table = Table::new(&header).right_aligned(&[0, 5, 6]);
    for s in &k.slots {
        let proof = match &s.last_proof {
            None => "none yet".to_string(),
            Some(last) => format!("{} {}", last.outcome, format_unix_ms(last.issued_at)),
        };
        table.row(vec![
            s.index.to_string(),
            s.state.clone(),
            s.peer.clone().unwrap_or_else(|| "-".into()),
            s.deal_state
                .map(DealState::as_str)
                .unwrap_or("-")
                .to_string(),
            proof,
            s.score
                .as_ref()
                .map_or("-".into(), |sc| format!("{:.2}", sc.value)),
            s.paid.to_string(),
        ]);
    }
    lines.extend(table.lines());
    lines.push(String::new());
    lines
}

fn show(k: &Keep) -> String {
    if k.erasure.is_some() {
        return show_slots(k);
    }
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
    ];
    let header = ["PROVIDER", "KEEP", "DEAL", "LAST PROOF", "SCORE", "PAID"];
    let mut table = Table::new(&header).right_aligned(&[4, 5]);
    for r in &k.providers {
        let proof = match &r.last_proof {
            None => "none yet".to_string(),
            Some(last) => format!("{} {}", last.outcome, format_unix_ms(last.issued_at)),
        };
        table.row(vec![
            r.peer.clone(),
            r.state.clone(),
            r.deal_state
                .map(DealState::as_str)
                .unwrap_or("")
                .to_string(),
            proof,
            format!("{:.2}", r.score.value),
            r.paid.to_string(),
        ]);
    }
    // Each provider's row, then its deal, why it ended and what its score is made of.
    let mut rows = table.lines().into_iter();
    lines.extend(rows.next());
    for (r, row) in k.providers.iter().zip(rows) {
        lines.push(row);
        lines.push(format!("  deal {}", r.deal));
        if let Some(reason) = &r.reason {
            lines.push(format!("  ended: {reason}"));
        }
        lines.push(format!("  {}", r.score.explanation));
    }
    lines.push(String::new());
    events(k, &mut lines);
    lines.join("\n")
}

/// An erasure-coded keep: its policy, health, slot table and decisions.
fn show_slots(k: &Keep) -> String {
    let p = &k.policy;
    let cap = match p.max_price_per_gib_month {
        Some(c) => format!("at most {c} per GiB-month"),
        None => "no price cap".into(),
    };
    let mut lines = vec![
        format!("{}  {}", k.cid, status(k)),
        format!(
            "request {}; slots for {}, {cap}, a proof every {}; paid {}",
            k.id,
            format_secs(p.duration_secs),
            format_secs(p.challenge_period_secs),
            k.paid
        ),
    ];
    lines.extend(slot_lines(k));
    events(k, &mut lines);
    lines.join("\n")
}

fn events(k: &Keep, lines: &mut Vec<String>) {
    lines.push("what the keeper did:".into());
    for e in &k.events {
        lines.push(format!(
            "  {} {:<14} {}",
            format_unix_ms(e.at),
            e.kind,
            e.detail
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{LastProof, Replica, Score};
    use crate::keeper::{KeepStatus, Policy};

    fn replica(peer: &str, state: &str, reason: Option<&str>) -> Replica {
        Replica {
            peer: peer.into(),
            deal: format!("deal-of-{peer}"),
            state: state.into(),
            reason: reason.map(Into::into),
            deal_state: Some(DealState::Active),
            price_per_gib_month: Some(5),
            ends_at: None,
            proofs_passed: 3,
            proofs_failed: 0,
            proofs_unreachable: 0,
            last_proof: Some(LastProof {
                outcome: "passed".into(),
                reason: None,
                issued_at: 0,
                answered_at: Some(1),
            }),
            score: Score {
                value: 0.5,
                pass_rate: 1.0,
                uptime: 1.0,
                age_days: 0.0,
                challenges: 3,
                passed: 3,
                failed: 0,
                unreachable: 0,
                explanation: format!("why {peer}"),
            },
            paid: 30,
        }
    }

    #[test]
    fn show_puts_each_providers_details_under_its_row() {
        let keep = Keep {
            id: "req-1".into(),
            cid: "bafy".into(),
            name: None,
            origins: Vec::new(),
            meta: Default::default(),
            policy: Policy {
                replicas: 2,
                duration_secs: 86_400,
                max_price_per_gib_month: Some(9),
                challenge_period_secs: 3_600,
            },
            status: KeepStatus::Pinning,
            status_details: Some("1 of 2 healthy".into()),
            healthy: 1,
            shortfall: 1,
            at_risk: 0,
            local_pin: true,
            owns_pin: true,
            piece_root: None,
            piece_size: None,
            created_at: 0,
            updated_at: 0,
            providers: vec![
                replica("peer-a", "live", None),
                replica("peer-bb", "dropped", Some("failed proofs")),
            ],
            paid: 60,
            events: Vec::new(),
            erasure: None,
            slots: Vec::new(),
        };
        let shown = show(&keep);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "bafy  pinning (1 of 2 healthy)");
        assert_eq!(
            lines[1],
            "request req-1; 2 replicas for 1day, at most 9 per GiB-month, a proof every 1h; paid 60"
        );
        assert_eq!(
            &lines[3..11],
            [
                "PROVIDER KEEP    DEAL   LAST PROOF                  SCORE PAID",
                "peer-a   live    active passed 1970-01-01T00:00:00Z  0.50   30",
                "  deal deal-of-peer-a",
                "  why peer-a",
                "peer-bb  dropped active passed 1970-01-01T00:00:00Z  0.50   30",
                "  deal deal-of-peer-bb",
                "  ended: failed proofs",
                "  why peer-bb",
            ]
        );
        assert_eq!(lines[12], "what the keeper did:");
        let listed = table(std::slice::from_ref(&keep));
        assert_eq!(
            listed,
            "CID  STATUS  REPLICAS SHORTFALL PAID REQUEST\n\
             bafy pinning      1/2         1   60 req-1"
        );
    }
}
