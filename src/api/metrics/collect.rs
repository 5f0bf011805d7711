//! The figures `/metrics` reads at each scrape, and the collector that encodes them.
//!
//! [`Snapshot::read`] gathers everything asynchronously (database totals, network, store);
//! the collector then encodes the last snapshot synchronously, as prometheus-client calls it.

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::api::{ApiError, AppState};
use crate::db::{Totals, PROOF_LATENCY_BUCKETS_MS};
use crate::net::ledger::Traffic;
use crate::node::NodeError;

/// One scrape's figures.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub totals: Totals,
    /// `None` while the network is not running.
    pub peers: Option<u64>,
    pub traffic: Traffic,
    pub wantlist: u64,
    /// DHT provides that failed since start.
    pub provide_failures: u64,
    /// Bitswap blocks from an asked peer that matched no wanted CID, since start.
    pub hash_mismatches: u64,
    pub store_used: u64,
    pub store_free: Option<u64>,
    pub quota: Option<u64>,
}

impl Snapshot {
    pub async fn read(state: &AppState) -> Result<Snapshot, ApiError> {
        let node = &state.node;
        let totals = node.db().totals().await.map_err(NodeError::from)?;
        let (peers, traffic, wantlist, provide_failures, hash_mismatches) =
            match node.net().running() {
                Some(net) => {
                    let peers: std::collections::HashSet<_> = net
                        .peers()
                        .await
                        .map_err(NodeError::Net)?
                        .into_iter()
                        .map(|(p, _)| p)
                        .collect();
                    (
                        Some(peers.len() as u64),
                        net.traffic(),
                        net.wantlist_len() as u64,
                        net.provide_failures(),
                        net.hash_mismatches(),
                    )
                }
                None => (None, Traffic::default(), 0, 0, 0),
            };
        let store = node.content().store();
        let store_free = node.provider().room()?.map(|room| room.free_on_disk);
        Ok(Snapshot {
            totals,
            peers,
            traffic,
            wantlist,
            provide_failures,
            hash_mismatches,
            store_used: store.used_bytes(),
            store_free,
            quota: store.quota(),
        })
    }
}

/// The last snapshot, shared between [`super::Metrics`] (which fills it) and the registry.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<Snapshot>>);

impl Shared {
    pub fn set(&self, snapshot: Snapshot) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// A family of one metric type, each sample with its labels and value.
fn family<T: Copy + Into<f64>>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(Labels, T)],
) -> Result<(), std::fmt::Error> {
    let help = format!("{help}.");
    let mut metric = encoder.encode_descriptor(name, &help, None, kind)?;
    for (labels, value) in samples {
        let value: f64 = (*value).into();
        // A sample without labels is written bare (`name 1`), not `name{} 1`.
        let write = |sample: &mut MetricEncoder| match kind {
            MetricType::Counter => sample.encode_counter::<NoLabelSet, _, f64>(&value, None),
            _ => sample.encode_gauge(&value),
        };
        match labels.is_empty() {
            true => write(&mut metric)?,
            false => write(&mut metric.encode_family(labels)?)?,
        }
    }
    Ok(())
}

/// Samples labelled `role` and `second` from (role, kind, count) rows.
fn by_pair<'a>(
    counts: &'a [(String, String, u64)],
    second: &'static str,
) -> Vec<(Labels<'a>, f64)> {
    counts
        .iter()
        .map(|(role, kind, n)| {
            (
                vec![("role", role.as_str()), (second, kind.as_str())],
                f(*n),
            )
        })
        .collect()
}

/// Samples labelled `role` from (role, value) rows.
fn by_role(sums: &[(String, u64)]) -> Vec<(Labels<'_>, f64)> {
    sums.iter()
        .map(|(role, n)| (vec![("role", role.as_str())], f(*n)))
        .collect()
}

/// u64 figures as f64 samples (exact up to 2^53, beyond any count here).
fn f(v: u64) -> f64 {
    v as f64
}

impl Collector for Shared {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let t = &s.totals;
        let gauge = MetricType::Gauge;
        let counter = MetricType::Counter;
        let e = &mut encoder;

        family(
            e,
            "build_info",
            "The running build: its version (always 1)",
            gauge,
            &[(vec![("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        )?;
        if let Some(peers) = s.peers {
            family(
                e,
                "peers",
                "Peers connected now",
                gauge,
                &[(vec![], f(peers))],
            )?;
        }
        let traffic = &s.traffic;
        family(
            e,
            "bitswap_blocks",
            "Bitswap blocks received (in: blocks this node wanted) and sent (out) since start",
            counter,
            &[
                (vec![("direction", "in")], f(traffic.blocks_in)),
                (vec![("direction", "out")], f(traffic.blocks_out)),
            ],
        )?;
        family(
            e,
            "bitswap_bytes",
            "Bitswap block bytes received (in) and sent (out) since start",
            counter,
            &[
                (vec![("direction", "in")], f(traffic.bytes_in)),
                (vec![("direction", "out")], f(traffic.bytes_out)),
            ],
        )?;
        family(
            e,
            "bitswap_wantlist_entries",
            "CIDs this node is fetching over Bitswap now",
            gauge,
            &[(vec![], f(s.wantlist))],
        )?;
        family(
            e,
            "bitswap_hash_mismatches",
            "Bitswap blocks from an asked peer that matched no wanted CID, since start",
            counter,
            &[(vec![], f(s.hash_mismatches))],
        )?;
        family(
            e,
            "provide_failures",
            "DHT provide calls that failed since start",
            counter,
            &[(vec![], f(s.provide_failures))],
        )?;
        family(
            e,
            "deals",
            "Deals by role (client or provider) and state",
            gauge,
            &by_pair(&t.deals, "state"),
        )?;
        family(
            e,
            "proofs",
            "Storage challenges by role (verifier: this node's audits of its providers; prover: \
             challenges it answered) and outcome (passed, answered, failed, late, unreachable, \
             pending)",
            counter,
            &by_pair(&t.challenges, "outcome"),
        )?;
        encode_latency(e, t)?;
        family(
            e,
            "channels",
            "Payment channels by role (payer or payee) and state",
            gauge,
            &by_pair(&t.channels, "state"),
        )?;
        family(
            e,
            "receipts",
            "Signed payment receipts stored, by channel role (payee: received, payer: signed)",
            counter,
            &by_role(&t.receipts),
        )?;
        let paid = |role: &str| {
            t.paid
                .iter()
                .find(|(r, _)| r == role)
                .map_or(0.0, |(_, n)| f(*n))
        };
        family(
            e,
            "earned_base_units",
            "Amount received through payment channels (highest receipts), base units",
            counter,
            &[(vec![], paid("payee"))],
        )?;
        family(
            e,
            "spent_base_units",
            "Amount paid through payment channels (highest receipts), base units",
            counter,
            &[(vec![], paid("payer"))],
        )?;
        family(e, "pins", "Pinned roots", gauge, &[(vec![], f(t.pins))])?;
        family(
            e,
            "store_used_bytes",
            "Bytes of block data stored",
            gauge,
            &[(vec![], f(s.store_used))],
        )?;
        if let Some(free) = s.store_free {
            family(
                e,
                "store_free_bytes",
                "Bytes free on the disk holding the block store (available to this process)",
                gauge,
                &[(vec![], f(free))],
            )?;
        }
        if let Some(quota) = s.quota {
            family(
                e,
                "store_quota_bytes",
                "The [storage] quota on block bytes",
                gauge,
                &[(vec![], f(quota))],
            )?;
        }
        Ok(())
    }
}

/// `cairn_proof_latency_seconds{role}`: answered challenges' latency, from database totals.
fn encode_latency(e: &mut DescriptorEncoder, t: &Totals) -> Result<(), std::fmt::Error> {
    let mut metric = e.encode_descriptor(
        "proof_latency_seconds",
        "Time from a challenge to its proof, by role (verifier: providers' answers to this \
         node; prover: this node's answers)",
        None,
        MetricType::Histogram,
    )?;
    for latency in &t.proof_latency {
        // The encoder takes per-bucket counts and adds them up; the database gave cumulative.
        let mut buckets = Vec::with_capacity(PROOF_LATENCY_BUCKETS_MS.len() + 1);
        let mut before = 0;
        for (le, cumulative) in PROOF_LATENCY_BUCKETS_MS.iter().zip(&latency.buckets) {
            buckets.push((*le as f64 / 1000.0, cumulative.saturating_sub(before)));
            before = *cumulative;
        }
        buckets.push((f64::MAX, latency.count.saturating_sub(before)));
        let labels: Labels = vec![("role", latency.role.as_str())];
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(
                latency.sum_ms as f64 / 1000.0,
                latency.count,
                &buckets,
                None,
            )?;
    }
    Ok(())
}
