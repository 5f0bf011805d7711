//! `cairn provider ask set|show`: this node's terms as a storage provider.

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;

use super::table::{self, Table};
use super::Context;
use crate::api::types::{Ask, AskTerms, Deals, ProviderAsk, Providers};
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
            return ctx.print(&out, || table::deals(&out.deals, "EARNED").render());
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

/// An ask in one line.
fn describe(ask: &Ask) -> String {
    format!(
        "{}  {} per GiB-month  {}..{}  max piece {}  free {}",
        ask.peer,
        ask.price_per_gib_month,
        days(ask.min_duration_secs),
        days(ask.max_duration_secs),
        format_size(ask.max_piece_size),
        format_size(ask.free_capacity),
    )
}

/// Whole days: asks' durations are set in days.
fn days(secs: u64) -> String {
    format!("{}d", secs / 86_400)
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
    ctx.print(&out, || providers_table(&out.providers, args.scores))
}

/// One row per provider, cheapest first; with scores, each score's explanation beneath.
fn providers_table(providers: &[ProviderAsk], scores: bool) -> String {
    if providers.is_empty() {
        return "no connected peer offers storage".to_string();
    }
    let mut header = vec!["PEER", "PRICE", "DURATION", "MAX PIECE", "FREE"];
    if scores {
        header.push("SCORE");
    }
    let mut table = Table::new(&header).right_aligned(&[5]);
    for p in providers {
        let a = &p.ask;
        let mut row = vec![
            a.peer.clone(),
            format!("{} per GiB-month", a.price_per_gib_month),
            format!(
                "{}..{}",
                days(a.min_duration_secs),
                days(a.max_duration_secs)
            ),
            format_size(a.max_piece_size),
            format_size(a.free_capacity),
        ];
        if let Some(score) = &p.score {
            row.push(format!("{:.2}", score.value));
        }
        table.row(row);
    }
    let mut lines = table.lines().into_iter();
    let mut out: Vec<String> = lines.next().into_iter().collect();
    for (p, line) in providers.iter().zip(lines) {
        out.push(line);
        if let Some(score) = &p.score {
            out.push(format!("  {}", score.explanation));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Score;

    fn provider(peer: &str, price: u64, score: Option<f64>) -> ProviderAsk {
        ProviderAsk {
            ask: Ask {
                peer: peer.into(),
                price_per_gib_month: price,
                retrieval_price_per_gib: 0,
                min_duration_secs: 86_400,
                max_duration_secs: 365 * 86_400,
                max_piece_size: 32 << 30,
                free_capacity: 500 << 30,
                min_challenge_period_secs: 3_600,
                expires_at: 0,
            },
            latency_ms: Some(3),
            score: score.map(|value| Score {
                value,
                pass_rate: 1.0,
                uptime: 1.0,
                age_days: 1.0,
                challenges: 1,
                passed: 1,
                failed: 0,
                unreachable: 0,
                explanation: format!("{peer}: pass rate 100%"),
            }),
        }
    }

    #[test]
    fn providers_are_a_table_with_each_scores_explanation_beneath_its_row() {
        let listed = [
            provider("peer-a", 5, Some(0.9)),
            provider("peer-bb", 120, Some(0.25)),
        ];
        assert_eq!(
            providers_table(&listed, true),
            "PEER    PRICE             DURATION MAX PIECE FREE      SCORE\n\
             peer-a  5 per GiB-month   1d..365d 32.0 GiB  500.0 GiB  0.90\n\
             \x20 peer-a: pass rate 100%\n\
             peer-bb 120 per GiB-month 1d..365d 32.0 GiB  500.0 GiB  0.25\n\
             \x20 peer-bb: pass rate 100%"
        );
        let unscored = [provider("peer-a", 5, None)];
        assert_eq!(
            providers_table(&unscored, false),
            "PEER   PRICE           DURATION MAX PIECE FREE\n\
             peer-a 5 per GiB-month 1d..365d 32.0 GiB  500.0 GiB"
        );
        assert_eq!(
            providers_table(&[], false),
            "no connected peer offers storage"
        );
    }
}
