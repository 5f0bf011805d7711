//! The node API's JSON bodies (`/api/v1`, `/health`): what the handlers serialize and the
//! CLI deserializes, one struct per shape.
//!
//! Invariants:
//! - These shapes are an interface: scripts, the status page and tests read them. A field is
//!   never renamed or dropped; a value that may be absent is `null`, not a missing key,
//!   unless the field says otherwise (`ProviderAsk::score`).
//! - Types here are plain data with no dependency on the node: `api::views` maps the node's
//!   records onto them, so an internal change cannot silently change the API.
//! - Request bodies refuse unknown fields, so a misspelt option is an error, not a default.
//!
//! The IPFS Pinning Service API (`api::pinning`) follows its own spec and is not here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keeper::{KeepStatus, Policy};
use crate::market::DealState;

/// Every error: `{"error": <machine-readable reason>, "message": <text>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

/// `GET /id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Id {
    pub id: String,
    pub agent: String,
    /// The API's URL, once bound.
    pub api: Option<String>,
    /// The gateway's URL, once bound.
    pub gateway: Option<String>,
    /// The swarm's listen multiaddrs.
    pub addresses: Vec<String>,
}

// ---- content -------------------------------------------------------------------------

/// `POST /add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    pub cid: String,
    /// File bytes.
    pub size: u64,
    /// Bytes of the whole DAG (the `Tsize` a parent records).
    pub dag_size: u64,
    pub pinned: bool,
}

/// `GET /ls/{cid}[/path]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub cid: String,
    pub entries: Vec<ListEntry>,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub name: String,
    pub cid: String,
    /// The entry's cumulative DAG size (`Tsize`).
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
}

/// `GET /stat/{cid}[/path]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub cid: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// A file's bytes, or a directory's cumulative size.
    pub size: u64,
}

/// `GET /pins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    pub pins: Vec<Pin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub cid: String,
    pub name: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// `POST /pins/{cid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    pub cid: String,
    /// Blocks the pin references.
    pub blocks: u64,
}

/// `DELETE /pins/{cid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpinned {
    pub cid: String,
    pub removed: bool,
}

/// `POST /gc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    pub removed_blocks: u64,
    pub freed_bytes: u64,
}

/// `POST /car`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarImported {
    pub roots: Vec<String>,
    pub blocks: u64,
    /// Blocks no root reaches: stored unpinned, removed by the next `gc`.
    #[serde(default)]
    pub unreachable: u64,
}

/// `POST /piece/{cid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub cid: String,
    /// BLAKE3 root of the piece, hex.
    pub piece_root: String,
    pub piece_size: u64,
}

// ---- network -------------------------------------------------------------------------

/// `POST /swarm/connect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    pub id: String,
    pub connected: bool,
}

/// `GET /swarm/peers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peers {
    pub peers: Vec<Peer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub id: String,
    pub addr: String,
}

/// `GET /routing/findprovs/{cid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundProviders {
    pub cid: String,
    pub providers: Vec<DhtProvider>,
}

/// A provider record found in the DHT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhtProvider {
    pub id: String,
    pub addresses: Vec<String>,
}

/// `POST /routing/provide/{cid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provided {
    pub cid: String,
    pub provided: bool,
}

/// The body of `POST /audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    /// A peer id of a connected peer, or a multiaddr ending in `/p2p/<peer id>`.
    pub peer: String,
    /// The piece root, 64 hex characters.
    pub root: String,
    pub size: u64,
    /// Chunks to sample (20 if unset).
    pub samples: Option<u32>,
    /// How long the provider has to answer (10 s if unset).
    pub timeout_ms: Option<u64>,
}

/// `POST /audit`: what an audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub peer: String,
    pub piece_root: String,
    pub piece_size: u64,
    pub samples: u32,
    /// `passed`, `failed` (a bad proof or a rejection), `late` or `unreachable`.
    pub outcome: String,
    pub passed: bool,
    pub reason: Option<String>,
    pub latency_ms: u64,
    pub proof_bytes: u64,
    /// The challenge and proof, DAG-CBOR, hex: `cairn proof verify` checks it offline.
    pub record: Option<String>,
}

// ---- market --------------------------------------------------------------------------

/// The body of `POST /provider/ask`: this node's terms as a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskTerms {
    pub price_per_gib_month: u64,
    #[serde(default)]
    pub retrieval_price_per_gib: u64,
    pub min_duration_secs: u64,
    pub max_duration_secs: u64,
    pub max_piece_size: u64,
    /// Bytes offered to deals in all.
    pub capacity: u64,
    pub min_challenge_period_secs: u64,
    /// How long each signed ask stays valid.
    pub ttl_secs: u64,
    /// If set, only these clients (peer ids) may make deals.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Clients (peer ids) refused whatever they offer.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `GET|POST /provider/ask`: a signed ask's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    pub peer: String,
    pub price_per_gib_month: u64,
    pub retrieval_price_per_gib: u64,
    pub min_duration_secs: u64,
    pub max_duration_secs: u64,
    pub max_piece_size: u64,
    pub free_capacity: u64,
    pub min_challenge_period_secs: u64,
    /// Unix ms.
    pub expires_at: u64,
}

/// `GET /providers[?scores=true]`, cheapest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Providers {
    pub providers: Vec<ProviderAsk>,
}

/// A provider found, with its ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderAsk {
    #[serde(flatten)]
    pub ask: Ask,
    /// Round trip of its ask request, when it was asked directly.
    pub latency_ms: Option<u64>,
    /// Present only with `?scores=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Score>,
}

/// A provider's score from this node's proof history, with the figures it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// In `0..=1`.
    pub value: f64,
    pub pass_rate: f64,
    pub uptime: f64,
    pub age_days: f64,
    pub challenges: u64,
    pub passed: u64,
    pub failed: u64,
    pub unreachable: u64,
    /// One line a user can read: what the score is made of.
    pub explanation: String,
}

/// The body of `POST /deals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealRequest {
    pub cid: String,
    /// Peer id of a connected provider, or its multiaddr with `/p2p/`.
    pub provider: String,
    pub duration_secs: u64,
    pub challenge_period_secs: u64,
    #[serde(default = "DealRequest::default_samples")]
    pub samples: u32,
    /// Highest price per GiB-month the client accepts.
    pub max_price_per_gib_month: Option<u64>,
    /// How long to wait for activation.
    #[serde(default = "DealRequest::default_wait_secs")]
    pub wait_secs: u64,
    /// The payment channel (this node's, to the provider) that pays for the deal; when absent
    /// an open channel with room is chosen, or one is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl DealRequest {
    pub const DEFAULT_SAMPLES: u32 = 20;
    pub const DEFAULT_WAIT_SECS: u64 = 300;

    fn default_samples() -> u32 {
        Self::DEFAULT_SAMPLES
    }

    fn default_wait_secs() -> u64 {
        Self::DEFAULT_WAIT_SECS
    }
}

/// `GET /deals?role=client|provider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deals {
    pub deals: Vec<Deal>,
}

/// `GET /deals/{id}`, `POST /deals`: a deal with its history, proof record and payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    pub id: String,
    /// `client` or `provider`: this node's side.
    pub role: String,
    pub peer: String,
    /// The root CID of the DAG the deal keeps.
    pub root: String,
    pub piece_root: String,
    pub piece_size: u64,
    pub state: DealState,
    pub created_at: i64,
    pub updated_at: i64,
    pub proofs_passed: u64,
    pub proofs_failed: u64,
    /// Paid (client) or earned (provider), base units.
    pub paid: u64,
    pub events: Vec<DealEvent>,
    /// The latest challenges, oldest first.
    pub challenges: Vec<Challenge>,
    /// Every challenge of the deal, including those not listed.
    pub challenges_total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealEvent {
    pub seq: i64,
    pub at: i64,
    pub state: DealState,
    pub reason: Option<String>,
}

/// One challenge, from either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub id: String,
    /// `verifier` or `prover`.
    pub role: String,
    pub peer: String,
    pub piece_root: String,
    pub piece_size: u64,
    pub period: u64,
    pub samples: u64,
    pub issued_at: i64,
    pub deadline: i64,
    pub answered_at: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub latency_ms: Option<i64>,
    pub proof_bytes: Option<i64>,
}

// ---- keeps ---------------------------------------------------------------------------

/// The body of `POST /keeps`: fields left out take the node's `[keeper]` defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepRequest {
    pub cid: String,
    pub replicas: Option<u32>,
    pub duration_secs: Option<u64>,
    pub max_price_per_gib_month: Option<u64>,
    pub challenge_period_secs: Option<u64>,
    /// Hold the CID as `k+m` erasure-coded slots (e.g. `4+4`) instead of replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<String>,
    /// With `erasure`: rebuild lost slots once fewer than this many are held (default k+1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_threshold: Option<u32>,
}

/// `GET /keeps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keeps {
    pub keeps: Vec<Keep>,
}

/// `GET /keeps/{key}`, `POST /keeps`: a keep with its replicas and the keeper's decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keep {
    pub id: String,
    pub cid: String,
    pub name: Option<String>,
    pub origins: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub policy: Policy,
    pub status: KeepStatus,
    pub status_details: Option<String>,
    pub healthy: u64,
    pub shortfall: u64,
    pub at_risk: u64,
    pub local_pin: bool,
    pub owns_pin: bool,
    pub piece_root: Option<String>,
    pub piece_size: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub providers: Vec<Replica>,
    pub paid: u64,
    pub events: Vec<KeepEvent>,
    /// For an erasure-coded keep: its scheme, erasure root and health.
    #[serde(default)]
    pub erasure: Option<KeepErasure>,
    /// For an erasure-coded keep: every slot with its provider, deal, last proof and score.
    #[serde(default)]
    pub slots: Vec<Slot>,
}

/// An erasure-coded keep's scheme and health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepErasure {
    /// `k+m`.
    pub scheme: String,
    pub k: u32,
    pub m: u32,
    pub repair_threshold: u32,
    /// The erasure root (the manifest's CID), once encoded.
    pub manifest: Option<String>,
    pub healthy: u32,
    /// Healthy slots minus k.
    pub health: i64,
    pub recoverable: bool,
    /// Slots without a healthy deal.
    pub missing: Vec<u32>,
}

/// One slot of an erasure-coded keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub index: u32,
    pub cid: String,
    pub piece_root: String,
    /// `healthy`, `unproven`, `at_risk` or `missing`.
    pub state: String,
    pub peer: Option<String>,
    pub deal: Option<String>,
    pub deal_state: Option<DealState>,
    pub last_proof: Option<LastProof>,
    pub score: Option<Score>,
    pub paid: u64,
    /// A copy is pinned here.
    pub local: bool,
    /// Copies refused for not matching the manifest.
    pub failures: u64,
}

/// `POST /keeps/{key}/restore`: what the DAG was rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepRestore {
    pub cid: String,
    pub manifest: String,
    pub slots: Vec<RestoredSlot>,
    pub blocks: u64,
    pub piece_size: u64,
    pub took_ms: u64,
    /// Slots passed over, with why.
    pub refused: Vec<(u32, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredSlot {
    pub index: u32,
    /// `local`, or the provider it was fetched from.
    pub source: String,
}

/// One provider's part in a keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub peer: String,
    pub deal: String,
    /// `live`, `dropped`, `released` or `ended` for this keep.
    pub state: String,
    pub reason: Option<String>,
    pub deal_state: Option<DealState>,
    pub price_per_gib_month: Option<u64>,
    /// Unix ms.
    pub ends_at: Option<u64>,
    pub proofs_passed: u64,
    pub proofs_failed: u64,
    pub proofs_unreachable: u64,
    pub last_proof: Option<LastProof>,
    pub score: Score,
    /// Base units paid for this deal's passed proof periods.
    pub paid: u64,
}

/// A replica's latest challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastProof {
    pub outcome: String,
    pub reason: Option<String>,
    pub issued_at: i64,
    pub answered_at: Option<i64>,
}

/// One of the keeper's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepEvent {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

/// `DELETE /keeps/{key}`: the ids of the keeps removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepsRemoved {
    pub removed: Vec<String>,
}

// ---- payments ------------------------------------------------------------------------

/// The body of `POST /pay/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenChannel {
    pub peer: String,
    /// Base units.
    pub deposit: u64,
}

/// `GET /pay/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub channels: Vec<Channel>,
}

/// A payment channel: `pending` is what is owed on it and not yet covered by a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: String,
    /// `payer` or `payee`: this node's side.
    pub role: String,
    pub peer: String,
    pub deposit: u64,
    pub paid: u64,
    pub remaining: u64,
    pub pending: u64,
    pub seq: u64,
    /// `open`, `closing` (the payer started the close on chain: the channel takes no new deal
    /// or receipt, and the payer may withdraw from `closes_at`) or `closed`.
    pub state: String,
    pub settled: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Payer of a channel on chain, once closing: the chain time (unix s) from which it may
    /// withdraw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<u64>,
    /// Payer of a channel on chain, once withdrawn: what came back (`settled` went to the
    /// payee; the two add up to the deposit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<u64>,
    /// Where the deposit is escrowed, for a channel on chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onchain: Option<OnChainChannel>,
}

/// A channel's escrow on chain: the contract's channel id (decimal; the channel's `id` is the
/// same number as 32 bytes of hex) and both EVM addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnChainChannel {
    pub chain_id: u64,
    pub contract: String,
    pub channel_id: String,
    pub payer: String,
    pub payee: String,
}

/// `GET /pay/channels/{id}/receipts`: the signed open and close and every receipt, as
/// signed bytes (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipts {
    pub channel: String,
    pub open: String,
    pub close: Option<String>,
    pub receipts: Vec<Receipt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub channel: String,
    pub seq: u64,
    /// The channel's cumulative total this receipt states.
    pub amount: u64,
    pub deal: Option<String>,
    pub at: i64,
    /// The signed receipt, hex.
    pub signed: String,
    pub stored_at: i64,
}

/// `GET /pay/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    pub peers: Vec<Balance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub peer: String,
    pub earned: u64,
    pub spent: u64,
    pub owed_to_us: u64,
    pub we_owe: u64,
}

// ---- status --------------------------------------------------------------------------

/// `GET /status`: the figures the status page needs that no other endpoint gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub storage: Storage,
    /// `None` when this node offers no storage (no ask set).
    pub provider: Option<Capacity>,
    /// Every challenge this node issued or answered, counted by the database.
    #[serde(default)]
    pub proofs: ProofTotals,
}

/// Challenges over the whole history, both roles: `passed` (a proof verified, or this node's
/// answer sent) and `failed` (failed, late or unreachable); pending ones are in neither.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofTotals {
    pub passed: u64,
    pub failed: u64,
}

/// The block store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Bytes of block data stored (the figure `/metrics` calls `store_used_bytes`).
    pub stored_bytes: u64,
    /// Blocks recorded in the database.
    pub blocks: u64,
    /// The configured quota, if any.
    pub quota_bytes: Option<u64>,
}

/// Capacity offered to deals, as the ask computes it: `free = offered - reserved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub offered: u64,
    /// Held by accepted and active deals.
    pub reserved: u64,
    pub free: u64,
}

/// `POST /swarm/disconnect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    pub id: String,
    pub disconnected: bool,
}

/// `GET /repo/stat`: what the repository holds (Kubo's `repo stat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStat {
    /// Blocks recorded in the database.
    pub num_objects: u64,
    /// Bytes of block data stored.
    pub repo_size: u64,
    /// The configured quota (`[storage] quota`), if any.
    pub storage_max: Option<u64>,
    /// The data directory.
    pub repo_path: String,
    /// The node's version (`cairn/<semver>`).
    pub version: String,
}

/// `GET /stats/bw`: bytes moved over libp2p since the daemon started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthStats {
    pub total_in: u64,
    pub total_out: u64,
    /// Seconds since the network started, over which the averages are taken.
    pub seconds: u64,
    /// Average bytes per second received and sent.
    pub rate_in: u64,
    pub rate_out: u64,
}

/// One bad node of a pinned DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadNode {
    pub cid: String,
    /// `missing`, `corrupt` or `malformed`.
    pub problem: String,
}

/// One pin's verdict in `POST /pins/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinVerdict {
    pub cid: String,
    pub ok: bool,
    /// Blocks of the DAG read and found whole.
    pub blocks: u64,
    pub bad_count: u64,
    /// The bad nodes, up to 100.
    pub bad_nodes: Vec<BadNode>,
}

/// `POST /pins/verify`: every pin's DAG checked against the local store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinVerify {
    pub pins: Vec<PinVerdict>,
}
