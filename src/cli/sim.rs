//! `cairn sim availability`: the availability simulation of [`crate::erasure::sim`], run
//! locally (no daemon). Flags left out take the model's defaults (`docs/availability.md`).

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use super::Context;
use crate::erasure::sim::{self, Outcome, Params};
use crate::erasure::Scheme;
use crate::units::parse_duration;

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Monte Carlo of datasets on churning providers: unavailability, nines, data lost for
    /// good and repair traffic for 3 replicas, 4+4, 4+8 and 10+20 with the same seeds.
    Availability(AvailabilityArgs),
}

/// What the user typed; [`AvailabilityArgs::params`] turns it into checked [`Params`].
#[derive(Debug, Args)]
pub struct AvailabilityArgs {
    /// Seed of the random streams (the same for every scheme).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Datasets simulated per scheme.
    #[arg(long)]
    pub datasets: Option<u32>,
    /// Length of the run, e.g. 365d.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Fraction of the time a provider is up, e.g. 0.9.
    #[arg(long)]
    pub uptime: Option<f64>,
    /// Mean length of a provider's outage, e.g. 6h.
    #[arg(long, value_parser = parse_duration)]
    pub mean_outage: Option<Duration>,
    /// Probability that a provider is gone for good within a month, e.g. 0.02.
    #[arg(long)]
    pub loss_per_month: Option<f64>,
    /// Time from a slot's loss to the start of its repair, e.g. 24h.
    #[arg(long, value_parser = parse_duration)]
    pub repair_delay: Option<Duration>,
    /// Bytes per second a repair moves, e.g. 10MiB.
    #[arg(long, value_parser = parse_size)]
    pub repair_bandwidth: Option<u64>,
    /// Never repair lost slots (the run then checks itself against the binomial formula).
    #[arg(long)]
    pub no_repair: bool,
    /// Size of each dataset's piece, e.g. 1GiB.
    #[arg(long, value_parser = parse_size)]
    pub piece_size: Option<u64>,
    /// A scheme to simulate, `k+m` or `Nx` for N replicas (repeatable; default 3x, 4+4, 4+8,
    /// 10+20).
    #[arg(long = "scheme", value_parser = parse_scheme)]
    pub schemes: Vec<Scheme>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{e} (use e.g. 10MiB)"))
}

/// `k+m`, or `Nx` for N full replicas (`1+(N-1)`).
fn parse_scheme(text: &str) -> Result<Scheme, String> {
    if let Some(n) = text.strip_suffix('x') {
        let n: u32 = n
            .parse()
            .map_err(|_| format!("{text:?}: use k+m or Nx (N replicas)"))?;
        return Scheme::new(1, n.saturating_sub(1)).map_err(|e| e.to_string());
    }
    text.parse()
        .map_err(|e: crate::erasure::ErasureError| e.to_string())
}

impl AvailabilityArgs {
    pub fn params(&self) -> anyhow::Result<Params> {
        let defaults = Params::default();
        let hours = |d: Duration| d.as_secs_f64() / 3600.0;
        let params = Params {
            datasets: self.datasets.unwrap_or(defaults.datasets),
            seed: self.seed.unwrap_or(defaults.seed),
            days: self
                .duration
                .map(|d| hours(d) / 24.0)
                .unwrap_or(defaults.days),
            uptime: self.uptime.unwrap_or(defaults.uptime),
            mean_outage_hours: self
                .mean_outage
                .map(hours)
                .unwrap_or(defaults.mean_outage_hours),
            loss_per_month: self.loss_per_month.unwrap_or(defaults.loss_per_month),
            repair: !self.no_repair,
            repair_delay_hours: self
                .repair_delay
                .map(hours)
                .unwrap_or(defaults.repair_delay_hours),
            repair_bandwidth: self
                .repair_bandwidth
                .map(|b| b as f64)
                .unwrap_or(defaults.repair_bandwidth),
            piece_size: self.piece_size.unwrap_or(defaults.piece_size),
        };
        params.validate()?;
        Ok(params)
    }

    fn schemes(&self) -> Vec<Scheme> {
        if self.schemes.is_empty() {
            sim::default_schemes()
        } else {
            self.schemes.clone()
        }
    }
}

pub async fn run(ctx: &Context, command: SimCommand) -> anyhow::Result<()> {
    match command {
        SimCommand::Availability(args) => availability(ctx, args).await,
    }
}

async fn availability(ctx: &Context, args: AvailabilityArgs) -> anyhow::Result<()> {
    let params = args.params()?;
    let schemes = args.schemes();
    let run = params.clone();
    let outcomes = tokio::task::spawn_blocking(move || sim::simulate_all(&run, &schemes)).await??;
    let out = json!({ "params": params, "schemes": outcomes });
    ctx.print(&out, || table(&params, &outcomes))?;
    Ok(())
}

fn table(params: &Params, outcomes: &[Outcome]) -> String {
    let mut lines = vec![
        format!(
            "{} datasets per scheme over {} days, seed {}: providers up {:.1}% (outages of {} h on average), {:.1}% lost for good per month, {}, {} pieces",
            params.datasets,
            params.days,
            params.seed,
            params.uptime * 100.0,
            params.mean_outage_hours,
            params.loss_per_month * 100.0,
            if params.repair {
                format!(
                    "repair {} h after a loss at {}/s",
                    params.repair_delay_hours,
                    bytesize::ByteSize(params.repair_bandwidth as u64)
                )
            } else {
                "no repair".into()
            },
            bytesize::ByteSize(params.piece_size),
        ),
        format!(
            "{:<11} {:>8} {:>12} {:>7} {:>12} {:>15} {:>11} {:>14}",
            "scheme", "overhead", "unavailable", "nines", "binomial", "lost for good", "repairs", "repair/stored"
        ),
    ];
    for o in outcomes {
        let nines = match o.nines {
            Some(n) => format!("{n:.2}"),
            None => format!(">{:.1}", -o.resolution.log10()),
        };
        lines.push(format!(
            "{:<11} {:>7.2}x {:>12.3e} {:>7} {:>12.3e} {:>15} {:>11} {:>14.4}",
            o.scheme,
            o.overhead,
            o.unavailable,
            nines,
            o.binomial_unavailable,
            format!("{} ({:.2}%)", o.lost, o.lost_fraction * 100.0),
            o.repairs,
            o.repair_per_stored_byte,
        ));
    }
    lines.push(
        "unavailable: mean fraction of the time fewer than k slots were up (lost datasets count as unavailable); binomial: P[Binomial(n, uptime) < k], the same without permanent loss; repair/stored: repair bytes moved per stored byte over the run"
            .into(),
    );
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: SimCommand,
    }

    fn args(line: &[&str]) -> Result<AvailabilityArgs, clap::Error> {
        let cli = Cli::try_parse_from(["sim"].iter().chain(line))?;
        let SimCommand::Availability(args) = cli.command;
        Ok(args)
    }

    #[test]
    fn flags_become_checked_params() {
        let a = args(&[
            "availability",
            "--seed",
            "7",
            "--datasets",
            "50",
            "--duration",
            "30d",
            "--uptime",
            "0.8",
            "--mean-outage",
            "2h",
            "--loss-per-month",
            "0.05",
            "--repair-delay",
            "12h",
            "--repair-bandwidth",
            "1MiB",
            "--piece-size",
            "256MiB",
            "--scheme",
            "3x",
            "--scheme",
            "2+2",
        ])
        .unwrap();
        let p = a.params().unwrap();
        assert_eq!((p.seed, p.datasets, p.days), (7, 50, 30.0));
        assert_eq!(
            (p.uptime, p.mean_outage_hours, p.loss_per_month),
            (0.8, 2.0, 0.05)
        );
        assert_eq!(
            (p.repair, p.repair_delay_hours, p.repair_bandwidth),
            (true, 12.0, 1048576.0)
        );
        assert_eq!(p.piece_size, 256 << 20);
        assert_eq!(
            a.schemes(),
            vec![Scheme { k: 1, m: 2 }, Scheme { k: 2, m: 2 }]
        );
        let defaults = args(&["availability", "--no-repair"]).unwrap();
        assert_eq!(
            defaults.params().unwrap(),
            Params {
                repair: false,
                ..Params::default()
            }
        );
        assert_eq!(defaults.schemes(), sim::default_schemes());
    }

    #[test]
    fn bad_flags_are_refused() {
        for bad in [
            &["availability", "--scheme", "4+0"][..],
            &["availability", "--scheme", "1x"],
            &["availability", "--scheme", "four"],
            &["availability", "--duration", "soon"],
            &["availability", "--piece-size", "big"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
        let a = args(&["availability", "--uptime", "1.5"]).unwrap();
        assert!(a.params().unwrap_err().to_string().contains("uptime"));
        let a = args(&["availability", "--datasets", "0"]).unwrap();
        assert!(a.params().unwrap_err().to_string().contains("datasets"));
    }

    #[test]
    fn the_table_names_every_scheme() {
        let params = Params {
            datasets: 20,
            days: 10.0,
            ..Params::default()
        };
        let outcomes = sim::simulate_all(&params, &sim::default_schemes()).unwrap();
        let text = table(&params, &outcomes);
        for name in ["3 replicas", "4+4", "4+8", "10+20"] {
            assert!(text.contains(name), "{text}");
        }
    }
}
