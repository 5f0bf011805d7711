//! Prometheus metrics at `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{ApiError, AppState};

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub added_bytes: Counter,
    pub gateway_requests: Counter,
    pub store_used_bytes: Gauge,
    pub pins: Gauge,
    /// Failed DHT provides since start (the network's count, read at each scrape).
    pub provide_failures: Gauge,
    /// Bitswap blocks that matched no CID their sender was asked for, since start.
    pub hash_mismatches: Gauge,
    /// The keeper's gauges (`cairn_keeper_*`), refreshed from the database at each scrape.
    pub keeper: super::keeps::KeeperGauges,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cairn");
        let added_bytes = Counter::default();
        let gateway_requests = Counter::default();
        let store_used_bytes = Gauge::default();
        let pins = Gauge::default();
        registry.register(
            "added_bytes",
            "File bytes added through the API",
            added_bytes.clone(),
        );
        registry.register(
            "gateway_requests",
            "Gateway requests served",
            gateway_requests.clone(),
        );
        registry.register(
            "store_used_bytes",
            "Bytes of block data stored",
            store_used_bytes.clone(),
        );
        registry.register("pins", "Pinned roots", pins.clone());
        let provide_failures = Gauge::default();
        registry.register(
            "provide_failures",
            "DHT provides that failed since start",
            provide_failures.clone(),
        );
        let hash_mismatches = Gauge::default();
        registry.register(
            "bitswap_hash_mismatches",
            "Bitswap blocks from an asked peer that matched no wanted CID, since start",
            hash_mismatches.clone(),
        );
        let keeper = super::keeps::KeeperGauges::register(&mut registry);
        Metrics {
            registry,
            added_bytes,
            gateway_requests,
            store_used_bytes,
            pins,
            provide_failures,
            hash_mismatches,
            keeper,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

pub async fn render(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let metrics = &state.metrics;
    metrics
        .store_used_bytes
        .set(state.node.content().store().used_bytes() as i64);
    let pins = state
        .node
        .db()
        .list_pins()
        .await
        .map_err(crate::node::NodeError::from)?;
    metrics.pins.set(pins.len() as i64);
    if let Some(net) = state.node.net().running() {
        metrics.provide_failures.set(net.provide_failures() as i64);
        metrics.hash_mismatches.set(net.hash_mismatches() as i64);
    }
    metrics.keeper.refresh(state.node.db()).await?;
    let mut text = String::new();
    encode(&mut text, &metrics.registry)
        .map_err(|e| ApiError::from(crate::node::NodeError::internal(e.to_string())))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
