//! `cairn provider ask set|show`: this node's terms as a storage provider.

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;

use super::Context;
use crate::api::types::{Ask, AskTerms, Deals, Providers};
use crate::units::{format_size, parse_duration, parse_size};

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// This node's ask.
    #[command(subcommand)]
    Ask(AskCommand),
    /// Deals this node holds as a provider.
    Deals,
}

#[derive(Debug, Subcommand)]
pub enum AskCommand {
    /// Offer storage on these terms (replaces earlier terms).
    Set(AskSetArgs),
    /// Show the ask this node signs now.
    Show,
}

#[derive(Debug, Args)]
pub struct AskSetArgs {
    /// Storage price in base units per GiB per 30-day month.
    #[arg(long)]
    pub price_per_gib_month: u64,
    /// Retrieval price in base units per GiB.
    #[arg(long, default_value_t = 0)]
    pub retrieval_price_per_gib: u64,
    /// Shortest deal, e.g. 1d.
    #[arg(long, value_parser = parse_duration)]
    pub min_duration: Duration,
    /// Longest deal, e.g. 365d.
    #[arg(long, value_parser = parse_duration)]
    pub max_duration: Duration,
    /// Largest piece, e.g. 32GiB.
    #[arg(long, value_parser = parse_size)]
    pub max_piece: u64,
    /// Space offered to deals in all, e.g. 500GiB.
    #[arg(long, value_parser = parse_size)]
    pub capacity: u64,
    /// Shortest challenge period answered, e.g. 1h.
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub min_challenge_period: Duration,
    /// How long each signed ask stays valid.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    pub ttl: Duration,
    /// Only deal with these clients (peer ids; repeat the flag).
    #[arg(long)]
    pub allow: Vec<String>,
    /// Never deal with these clients (peer ids; repeat the flag).
    #[arg(long)]
    pub deny: Vec<String>,
}

pub async fn run(ctx: &Context, command: ProviderCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let command = match command {
        ProviderCommand::Ask(command) => command,
        ProviderCommand::Deals => {
            let out: Deals = client
                .json(
                    client
                        .request(Method::GET, "/deals")
                        .query(&[("role", "provider")]),
                )
                .await?;
            return ctx.print(&out, || super::deal::table(&out.deals, "EARNED"));
        }
    };
    let out: Ask = match command {
        AskCommand::Set(args) => {
            let terms = AskTerms {
                price_per_gib_month: args.price_per_gib_month,
                retrieval_price_per_gib: args.retrieval_price_per_gib,
                min_duration_secs: args.min_duration.as_secs(),
                max_duration_secs: args.max_duration.as_secs(),
                max_piece_size: args.max_piece,
                capacity: args.capacity,
                min_challenge_period_secs: args.min_challenge_period.as_secs(),
                ttl_secs: args.ttl.as_secs(),
                allow: (!args.allow.is_empty()).then_some(args.allow),
                deny: args.deny,
            };
            client.post_json("/provider/ask", &terms).await?
        }
        AskCommand::Show => client.get_json("/provider/ask").await?,
    };
    ctx.print(&out, || describe(&out))
}

/// One line per ask, as `cairn providers` prints them too.
pub fn describe(ask: &Ask) -> String {
    let size = format_size;
    let days = |secs: u64| format!("{}d", secs / 86_400);
    format!(
        "{}  {} per GiB-month  {}..{}  max piece {}  free {}",
        ask.peer,
        ask.price_per_gib_month,
        days(ask.min_duration_secs),
        days(ask.max_duration_secs),
        size(ask.max_piece_size),
        size(ask.free_capacity),
    )
}

#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// Show each provider's score from this node's proof history, and what it is made of.
    #[arg(long)]
    pub scores: bool,
}

pub async fn providers(ctx: &Context, args: ProvidersArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mut request = client.request(Method::GET, "/providers");
    if args.scores {
        request = request.query(&[("scores", "true")]);
    }
    let out: Providers = client.json(request).await?;
    ctx.print(&out, || {
        if out.providers.is_empty() {
            return "no connected peer offers storage".to_string();
        }
        out.providers
            .iter()
            .map(|p| match &p.score {
                Some(score) => format!(
                    "{}\n  score {:.2}: {}",
                    describe(&p.ask),
                    score.value,
                    score.explanation
                ),
                None => describe(&p.ask),
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
