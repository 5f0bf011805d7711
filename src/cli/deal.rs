//! `cairn deal make|list|show`: storage deals as a client.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};
use reqwest::Method;

use super::{table, Context};
use crate::api::types::{Deal, DealRequest, Deals};
use crate::market::DealState;
use crate::units::parse_duration;

#[derive(Debug, Subcommand)]
pub enum DealCommand {
    /// Propose a deal for a DAG held here and wait until the provider activates it.
    Make(MakeArgs),
    /// Deals made as a client.
    List,
    /// One deal: its state, history and proofs.
    Show { id: String },
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    pub cid: String,
    /// A connected provider's peer id, or its multiaddr ending in /p2p/<peer id>.
    #[arg(long)]
    pub provider: String,
    #[arg(long, value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub challenge_period: Duration,
    /// Highest price per GiB-month you accept.
    #[arg(long)]
    pub max_price: Option<u64>,
    #[arg(long, default_value_t = 20)]
    pub samples: u32,
    /// How long to wait for activation.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub wait: Duration,
    /// The payment channel to pay from (one of this node's, to the provider); by default an
    /// open one with room, or a new one.
    #[arg(long)]
    pub channel: Option<String>,
}

pub async fn run(ctx: &Context, command: DealCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        DealCommand::Make(args) => {
            let request = DealRequest {
                cid: args.cid,
                provider: args.provider,
                duration_secs: args.duration.as_secs(),
                challenge_period_secs: args.challenge_period.as_secs(),
                samples: args.samples,
                max_price_per_gib_month: args.max_price,
                wait_secs: args.wait.as_secs(),
                channel: args.channel,
            };
            let deal: Deal = client.post_json("/deals", &request).await?;
            ctx.print(&deal, || {
                format!("deal {}\nstate {}", deal.id, deal.state.as_str())
            })?;
            if deal.state != DealState::Active {
                bail!(
                    "the deal is {}, not active: {}",
                    deal.state.as_str(),
                    last_reason(&deal)
                );
            }
        }
        DealCommand::List => {
            let out: Deals = client
                .json(
                    client
                        .request(Method::GET, "/deals")
                        .query(&[("role", "client")]),
                )
                .await?;
            ctx.print(&out, || table::deals(&out.deals, "PAID").render())?;
        }
        DealCommand::Show { id } => {
            let deal: Deal = client.get_json(&format!("/deals/{id}")).await?;
            ctx.print(&deal, || {
                let label = if deal.role == "provider" {
                    "EARNED"
                } else {
                    "PAID"
                };
                let mut lines = vec![table::deals(std::slice::from_ref(&deal), label).render()];
                for event in &deal.events {
                    lines.push(format!(
                        "  {} {} {}",
                        event.at,
                        event.state.as_str(),
                        event.reason.as_deref().unwrap_or("")
                    ));
                }
                lines.join("\n")
            })?;
        }
    }
    Ok(())
}

fn last_reason(deal: &Deal) -> String {
    deal.events
        .last()
        .and_then(|e| e.reason.clone())
        .unwrap_or_else(|| "no reason recorded".into())
}
