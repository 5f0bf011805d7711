//! The availability simulation: a seeded Monte Carlo of datasets kept on churning providers,
//! comparing full replicas with erasure-coded slots at the same seeds. The model and the
//! figures are in `docs/availability.md`; `cairn sim availability` runs it.
//!
//! # Model
//!
//! Each dataset is one piece coded `k+m` (3 replicas are `1+2`: any one of three copies
//! restores it), each slot on its own provider. Providers fail independently:
//! - **transient outages**: a provider alternates between up and down, each period
//!   exponentially distributed, down for `mean_outage_hours` on average and up for
//!   `mean_outage_hours · u / (1 - u)`, so it is up a fraction `u` (`uptime`) of the time;
//!   each starts in this stationary state (up with probability `u`);
//! - **permanent loss**: a provider (with its slot) is gone for good with probability
//!   `loss_per_month` within any month (exponential lifetime);
//! - **repair** (unless off): a lost slot is noticed `repair_delay_hours` after it is lost
//!   (missed proofs, then a new deal); a repair then needs `k` slots up, fetches them and
//!   uploads every lost slot noticed so far to new providers, moving
//!   `(k + lost) · slot_size` bytes at `repair_bandwidth` bytes per second; the new slots start
//!   up. A repair waits while fewer than `k` slots are up. Sources going down during a
//!   transfer are ignored (transfers take minutes, outages hours).
//!
//! A dataset is **unavailable** while fewer than `k` of its slots are up, and **lost for
//! good** once fewer than `k` slots remain at all (it then counts as unavailable for the rest
//! of the run). The simulation is event-driven (no time step) in hours.
//!
//! With repair off and no permanent loss, the fraction of time a dataset is unavailable is
//! exactly `P[Binomial(n, u) < k]` ([`binomial_below`]); with repair off, the fraction lost
//! for good within `T` is `P[Binomial(n, e^(-λT)) < k]`. The tests check the simulation
//! against both.
//!
//! # Reproducibility
//!
//! Dataset `d` of every scheme draws from ChaCha8 seeded with `seed`, stream `d`, so a run is
//! a pure function of its parameters and schemes share their seeds.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Scheme;

/// Hours in a month (a twelfth of 365.25 days).
pub const MONTH_HOURS: f64 = 730.5;

/// What the simulation is asked to model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Params {
    /// Datasets simulated per scheme.
    pub datasets: u32,
    /// ChaCha8 seed.
    pub seed: u64,
    /// Length of the run in days.
    pub days: f64,
    /// Fraction of the time a provider is up, `0 < u <= 1`.
    pub uptime: f64,
    /// Mean length of a provider's outage, hours.
    pub mean_outage_hours: f64,
    /// Probability that a provider is gone for good within a month, `0 <= q < 1`.
    pub loss_per_month: f64,
    /// Whether lost slots are rebuilt.
    pub repair: bool,
    /// Hours between a slot's loss and the start of its repair.
    pub repair_delay_hours: f64,
    /// Bytes per second a repair moves.
    pub repair_bandwidth: f64,
    /// Bytes of each dataset's piece.
    pub piece_size: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            datasets: 10_000,
            seed: 1,
            days: 365.0,
            uptime: 0.9,
            mean_outage_hours: 6.0,
            loss_per_month: 0.02,
            repair: true,
            repair_delay_hours: 24.0,
            repair_bandwidth: 10.0 * 1024.0 * 1024.0,
            piece_size: 1 << 30,
        }
    }
}

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid simulation parameter {name}: {reason}")]
pub struct SimError {
    pub name: &'static str,
    pub reason: String,
}

impl Params {
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |name, reason: &str| {
            Err(SimError {
                name,
                reason: reason.into(),
            })
        };
        if self.datasets == 0 {
            return bad("datasets", "at least 1");
        }
        if !(self.days.is_finite() && self.days > 0.0) {
            return bad("days", "a positive number");
        }
        if !(self.uptime > 0.0 && self.uptime <= 1.0) {
            return bad("uptime", "in (0, 1]");
        }
        if !(self.mean_outage_hours.is_finite() && self.mean_outage_hours > 0.0) {
            return bad("mean_outage_hours", "a positive number");
        }
        if !(0.0..1.0).contains(&self.loss_per_month) {
            return bad("loss_per_month", "in [0, 1)");
        }
        if !(self.repair_delay_hours.is_finite() && self.repair_delay_hours >= 0.0) {
            return bad("repair_delay_hours", "zero or more");
        }
        if !(self.repair_bandwidth.is_finite() && self.repair_bandwidth > 0.0) {
            return bad("repair_bandwidth", "a positive number of bytes per second");
        }
        if self.piece_size == 0 {
            return bad("piece_size", "at least 1 byte");
        }
        Ok(())
    }

    fn hours(&self) -> f64 {
        self.days * 24.0
    }

    /// Permanent-loss rate per hour.
    fn loss_rate(&self) -> f64 {
        -(1.0 - self.loss_per_month).ln() / MONTH_HOURS
    }
}

/// The schemes the issue compares: 3 replicas, 4+4, 4+8, 10+20.
pub fn default_schemes() -> Vec<Scheme> {
    [(1, 2), (4, 4), (4, 8), (10, 20)]
        .into_iter()
        .map(|(k, m)| Scheme { k, m })
        .collect()
}

/// How a scheme is named in the output: `3 replicas` for `1+m`, else `k+m`.
pub fn label(scheme: Scheme) -> String {
    if scheme.k == 1 {
        format!("{} replicas", scheme.n())
    } else {
        scheme.to_string()
    }
}

/// What one scheme came to over the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub scheme: String,
    pub k: u32,
    pub m: u32,
    /// Stored bytes per dataset byte, `(k + m) / k`.
    pub overhead: f64,
    /// Mean fraction of the time a dataset was unavailable (lost ones count as unavailable).
    pub unavailable: f64,
    /// Standard error of `unavailable` (across datasets).
    pub unavailable_stderr: f64,
    /// `-log10(unavailable)`; `None` when nothing was unavailable.
    pub nines: Option<f64>,
    /// The smallest unavailability the run can see, `1 / (datasets · hours)`.
    pub resolution: f64,
    /// Datasets lost for good.
    pub lost: u32,
    /// `lost / datasets`.
    pub lost_fraction: f64,
    /// Repairs run.
    pub repairs: u64,
    /// Repair bytes moved per dataset byte over the run.
    pub repair_per_dataset_byte: f64,
    /// Repair bytes moved per stored byte (`overhead` times the dataset bytes) over the run.
    pub repair_per_stored_byte: f64,
    /// `P[Binomial(n, uptime) < k]`: the unavailability of independent providers with no
    /// permanent loss.
    pub binomial_unavailable: f64,
    /// `P[Binomial(n, e^(-λT)) < k]`: the fraction lost for good with repair off.
    pub binomial_lost_without_repair: f64,
}

/// `P[X < k]` for `X ~ Binomial(n, p)`.
pub fn binomial_below(k: u32, n: u32, p: f64) -> f64 {
    let mut total = 0.0;
    let mut choose = 1.0f64; // C(n, i)
    for i in 0..k.min(n + 1) {
        total += choose * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32);
        choose = choose * f64::from(n - i) / f64::from(i + 1);
    }
    total.min(1.0)
}

/// One dataset's year.
struct Dataset<'a> {
    params: &'a Params,
    k: usize,
    slot_size: f64,
    up: Vec<bool>,
    lost: Vec<bool>,
    /// When each slot next changes between up and down.
    toggle_at: Vec<f64>,
    /// When each slot is lost for good.
    loss_at: Vec<f64>,
    /// When each lost slot's loss is noticed.
    noticed_at: Vec<f64>,
    /// Slots being rebuilt by the running repair.
    repairing: Vec<bool>,
    /// The earliest `noticed_at` of a lost slot not being rebuilt.
    pending: f64,
    repair_done_at: f64,
    /// Slots up and not lost.
    available: usize,
    /// Slots not lost.
    remaining: usize,
    unavailable_hours: f64,
    repairs: u64,
    repair_bytes: f64,
    gone: bool,
}

struct Tally {
    unavailable: f64,
    unavailable_sq: f64,
    lost: u32,
    repairs: u64,
    repair_bytes: f64,
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    // 1 - U is in (0, 1], so the log is finite.
    -mean * (1.0 - rng.gen::<f64>()).ln()
}

impl<'a> Dataset<'a> {
    fn new(params: &'a Params, scheme: Scheme, rng: &mut ChaCha8Rng) -> Self {
        let n = scheme.n() as usize;
        let k = scheme.k as usize;
        let slot_size = params.piece_size.div_ceil(u64::from(scheme.k)) as f64;
        let mut dataset = Dataset {
            params,
            k,
            slot_size,
            up: vec![false; n],
            lost: vec![false; n],
            toggle_at: vec![f64::INFINITY; n],
            loss_at: vec![f64::INFINITY; n],
            noticed_at: vec![f64::INFINITY; n],
            repairing: vec![false; n],
            pending: f64::INFINITY,
            repair_done_at: f64::INFINITY,
            available: 0,
            remaining: n,
            unavailable_hours: 0.0,
            repairs: 0,
            repair_bytes: 0.0,
            gone: false,
        };
        for i in 0..n {
            let up = rng.gen_bool(params.uptime);
            dataset.start_slot(i, up, 0.0, rng);
        }
        dataset
    }

    fn mean_up(&self) -> f64 {
        let u = self.params.uptime;
        self.params.mean_outage_hours * u / (1.0 - u)
    }

    /// Slot `i` on a (new) provider from time `t`.
    fn start_slot(&mut self, i: usize, up: bool, t: f64, rng: &mut ChaCha8Rng) {
        self.up[i] = up;
        self.lost[i] = false;
        if up {
            self.available += 1;
        }
        self.toggle_at[i] = self.next_toggle(up, t, rng);
        let rate = self.params.loss_rate();
        self.loss_at[i] = if rate > 0.0 {
            t + exp(rng, 1.0 / rate)
        } else {
            f64::INFINITY
        };
        self.noticed_at[i] = f64::INFINITY;
    }

    fn next_toggle(&self, up: bool, t: f64, rng: &mut ChaCha8Rng) -> f64 {
        if self.params.uptime >= 1.0 {
            return f64::INFINITY;
        }
        let mean = if up {
            self.mean_up()
        } else {
            self.params.mean_outage_hours
        };
        t + exp(rng, mean)
    }

    /// When the next repair may start: the earliest noticed loss not being repaired, once
    /// no repair runs.
    fn repair_start_at(&self) -> f64 {
        if !self.params.repair || self.repair_done_at.is_finite() {
            return f64::INFINITY;
        }
        self.pending
    }

    fn run(&mut self, rng: &mut ChaCha8Rng) {
        let end = self.params.hours();
        let n = self.up.len();
        let mut t = 0.0;
        loop {
            // The next event: a toggle or a loss of a live slot, a repair start or end.
            let mut next = end;
            let mut event = Event::End;
            for i in 0..n {
                if self.lost[i] {
                    continue;
                }
                if self.toggle_at[i] < next {
                    next = self.toggle_at[i];
                    event = Event::Toggle(i);
                }
                if self.loss_at[i] < next {
                    next = self.loss_at[i];
                    event = Event::Loss(i);
                }
            }
            if self.repair_done_at < next {
                next = self.repair_done_at;
                event = Event::RepairDone;
            }
            // A repair waiting for sources is retried at the next toggle, not here.
            let start = self.repair_start_at();
            if start < next && self.available >= self.k {
                next = start.max(t);
                event = Event::RepairStart;
            }
            if self.available < self.k {
                self.unavailable_hours += next - t;
            }
            t = next;
            match event {
                Event::End => return,
                Event::Toggle(i) => self.toggle(i, t, rng),
                Event::Loss(i) => {
                    self.lose(i, t);
                    if self.remaining < self.k {
                        self.gone = true;
                        self.unavailable_hours += end - t;
                        return;
                    }
                }
                Event::RepairStart => self.start_repair(t),
                Event::RepairDone => self.finish_repair(t, rng),
            }
        }
    }

    fn toggle(&mut self, i: usize, t: f64, rng: &mut ChaCha8Rng) {
        self.up[i] = !self.up[i];
        if self.up[i] {
            self.available += 1;
        } else {
            self.available -= 1;
        }
        self.toggle_at[i] = self.next_toggle(self.up[i], t, rng);
    }

    fn lose(&mut self, i: usize, t: f64) {
        if self.up[i] {
            self.available -= 1;
        }
        self.up[i] = false;
        self.lost[i] = true;
        self.remaining -= 1;
        self.toggle_at[i] = f64::INFINITY;
        self.loss_at[i] = f64::INFINITY;
        self.noticed_at[i] = t + self.params.repair_delay_hours;
        self.pending = self.pending.min(self.noticed_at[i]);
    }

    fn start_repair(&mut self, t: f64) {
        let mut rebuilt = 0usize;
        self.pending = f64::INFINITY;
        for i in 0..self.up.len() {
            if self.lost[i] && !self.repairing[i] {
                if self.noticed_at[i] <= t {
                    self.repairing[i] = true;
                    rebuilt += 1;
                } else {
                    self.pending = self.pending.min(self.noticed_at[i]);
                }
            }
        }
        let bytes = (self.k + rebuilt) as f64 * self.slot_size;
        self.repairs += 1;
        self.repair_bytes += bytes;
        self.repair_done_at = t + bytes / self.params.repair_bandwidth / 3600.0;
    }

    fn finish_repair(&mut self, t: f64, rng: &mut ChaCha8Rng) {
        self.repair_done_at = f64::INFINITY;
        for i in 0..self.up.len() {
            if self.repairing[i] {
                self.repairing[i] = false;
                self.remaining += 1;
                self.start_slot(i, true, t, rng);
            }
        }
    }
}

enum Event {
    End,
    Toggle(usize),
    Loss(usize),
    RepairStart,
    RepairDone,
}

/// Runs `params.datasets` datasets coded with `scheme`.
pub fn simulate(params: &Params, scheme: Scheme) -> Result<Outcome, SimError> {
    params.validate()?;
    let hours = params.hours();
    let mut tally = Tally {
        unavailable: 0.0,
        unavailable_sq: 0.0,
        lost: 0,
        repairs: 0,
        repair_bytes: 0.0,
    };
    for d in 0..params.datasets {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(u64::from(d));
        let mut dataset = Dataset::new(params, scheme, &mut rng);
        dataset.run(&mut rng);
        let fraction = dataset.unavailable_hours / hours;
        tally.unavailable += fraction;
        tally.unavailable_sq += fraction * fraction;
        tally.lost += u32::from(dataset.gone);
        tally.repairs += dataset.repairs;
        tally.repair_bytes += dataset.repair_bytes;
    }
    let count = f64::from(params.datasets);
    let mean = tally.unavailable / count;
    let variance = if params.datasets > 1 {
        ((tally.unavailable_sq - count * mean * mean) / (count - 1.0)).max(0.0)
    } else {
        0.0
    };
    let dataset_bytes = count * params.piece_size as f64;
    let survive = (-params.loss_rate() * hours).exp();
    Ok(Outcome {
        scheme: label(scheme),
        k: scheme.k,
        m: scheme.m,
        overhead: scheme.overhead(),
        unavailable: mean,
        unavailable_stderr: (variance / count).sqrt(),
        nines: (mean > 0.0).then(|| -mean.log10()),
        resolution: 1.0 / (count * hours),
        lost: tally.lost,
        lost_fraction: f64::from(tally.lost) / count,
        repairs: tally.repairs,
        repair_per_dataset_byte: tally.repair_bytes / dataset_bytes,
        repair_per_stored_byte: tally.repair_bytes / (dataset_bytes * scheme.overhead()),
        binomial_unavailable: binomial_below(scheme.k, scheme.n(), params.uptime),
        binomial_lost_without_repair: binomial_below(scheme.k, scheme.n(), survive),
    })
}

/// Runs every scheme with the same parameters and seeds.
pub fn simulate_all(params: &Params, schemes: &[Scheme]) -> Result<Vec<Outcome>, SimError> {
    schemes.iter().map(|&s| simulate(params, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(k: u32, m: u32) -> Scheme {
        Scheme { k, m }
    }

    #[test]
    fn binomial_matches_the_issue_figures() {
        // Providers up 90 %: 3 replicas 1e-3, 4-of-12 ~1.7e-7 (issue 16), 10-of-30 ~6e-15.
        assert!((binomial_below(1, 3, 0.9) - 1e-3).abs() < 1e-12);
        let b = binomial_below(4, 12, 0.9);
        assert!((1.6e-7..1.8e-7).contains(&b), "{b}");
        let b = binomial_below(10, 30, 0.9);
        assert!((5e-15..7e-15).contains(&b), "{b}");
        assert_eq!(binomial_below(3, 3, 1.0), 0.0);
        assert!((binomial_below(4, 4, 0.5) - 15.0 / 16.0).abs() < 1e-12);
        assert_eq!(binomial_below(0, 5, 0.3), 0.0);
    }

    /// With repair off and no permanent loss, each scheme's simulated unavailability agrees
    /// with `P[Binomial(n, u) < k]` within five standard errors (the spread of the
    /// per-dataset fractions, which are independent).
    #[test]
    fn without_repair_unavailability_is_binomial() {
        for (uptime, k, m) in [
            (0.6, 1, 2),
            (0.6, 4, 4),
            (0.5, 4, 8),
            (0.5, 10, 20),
            (0.8, 2, 1),
        ] {
            let params = Params {
                datasets: 250,
                days: 60.0,
                uptime,
                mean_outage_hours: 24.0,
                loss_per_month: 0.0,
                repair: false,
                ..Params::default()
            };
            let out = simulate(&params, scheme(k, m)).unwrap();
            let expected = binomial_below(k, k + m, uptime);
            assert!(out.unavailable > 0.0);
            assert!(
                (out.unavailable - expected).abs() <= 5.0 * out.unavailable_stderr,
                "{k}+{m} at {uptime}: simulated {:.5} ± {:.5}, binomial {expected:.5}",
                out.unavailable,
                out.unavailable_stderr
            );
            assert_eq!((out.lost, out.repairs), (0, 0));
        }
    }

    /// With repair off, the fraction lost for good within the run is
    /// `P[Binomial(n, e^(-λT)) < k]`, within five binomial standard errors.
    #[test]
    fn without_repair_losses_are_binomial() {
        for (k, m) in [(1, 2), (4, 4), (4, 8), (10, 20)] {
            let params = Params {
                datasets: 2_000,
                loss_per_month: 0.1,
                // Outages change nothing here; without them the run is only losses.
                uptime: 1.0,
                repair: false,
                ..Params::default()
            };
            let out = simulate(&params, scheme(k, m)).unwrap();
            let p = out.binomial_lost_without_repair;
            let sigma = (p * (1.0 - p) / f64::from(params.datasets)).sqrt();
            assert!(
                (out.lost_fraction - p).abs() <= 5.0 * sigma + 1.0 / f64::from(params.datasets),
                "{k}+{m}: lost {:.4}, binomial {p:.4} (sigma {sigma:.4})",
                out.lost_fraction
            );
        }
    }

    #[test]
    fn repair_saves_data_and_costs_traffic() {
        let params = Params {
            datasets: 200,
            loss_per_month: 0.1,
            mean_outage_hours: 24.0,
            ..Params::default()
        };
        let off = Params {
            repair: false,
            ..params.clone()
        };
        for s in [scheme(1, 2), scheme(4, 4)] {
            let with = simulate(&params, s).unwrap();
            let without = simulate(&off, s).unwrap();
            assert!(
                with.lost < without.lost,
                "{s}: {} vs {}",
                with.lost,
                without.lost
            );
            assert!(with.repairs > 0 && with.repair_per_dataset_byte > 0.0);
            assert_eq!((without.repairs, without.repair_per_dataset_byte), (0, 0.0));
            // Each repair moves at least k slots plus one rebuilt slot.
            let min = with.repairs as f64 * f64::from(s.k + 1) / f64::from(s.k);
            assert!(with.repair_per_dataset_byte * f64::from(params.datasets) >= min - 1e-9);
        }
    }

    #[test]
    fn runs_are_reproducible_and_depend_on_the_seed() {
        let params = Params {
            datasets: 40,
            days: 90.0,
            uptime: 0.7,
            mean_outage_hours: 24.0,
            loss_per_month: 0.1,
            ..Params::default()
        };
        let a = simulate_all(&params, &default_schemes()).unwrap();
        let b = simulate_all(&params, &default_schemes()).unwrap();
        assert_eq!(a, b);
        let other = simulate(
            &Params {
                seed: 2,
                ..params.clone()
            },
            scheme(4, 4),
        )
        .unwrap();
        assert_ne!(other, a[1]);
        let labels: Vec<&str> = a.iter().map(|o| o.scheme.as_str()).collect();
        assert_eq!(labels, ["3 replicas", "4+4", "4+8", "10+20"]);
    }

    #[test]
    fn always_up_providers_are_always_available() {
        let params = Params {
            datasets: 50,
            uptime: 1.0,
            loss_per_month: 0.0,
            ..Params::default()
        };
        let out = simulate(&params, scheme(4, 4)).unwrap();
        assert_eq!((out.unavailable, out.nines, out.lost), (0.0, None, 0));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let base = Params::default();
        let cases: [(&str, Params); 8] = [
            (
                "datasets",
                Params {
                    datasets: 0,
                    ..base.clone()
                },
            ),
            (
                "days",
                Params {
                    days: 0.0,
                    ..base.clone()
                },
            ),
            (
                "uptime",
                Params {
                    uptime: 0.0,
                    ..base.clone()
                },
            ),
            (
                "uptime",
                Params {
                    uptime: 1.5,
                    ..base.clone()
                },
            ),
            (
                "mean_outage_hours",
                Params {
                    mean_outage_hours: f64::NAN,
                    ..base.clone()
                },
            ),
            (
                "loss_per_month",
                Params {
                    loss_per_month: 1.0,
                    ..base.clone()
                },
            ),
            (
                "repair_bandwidth",
                Params {
                    repair_bandwidth: 0.0,
                    ..base.clone()
                },
            ),
            (
                "piece_size",
                Params {
                    piece_size: 0,
                    ..base.clone()
                },
            ),
        ];
        for (name, params) in cases {
            assert_eq!(simulate(&params, scheme(4, 4)).unwrap_err().name, name);
        }
    }
}
