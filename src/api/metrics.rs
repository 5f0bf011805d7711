//! Prometheus metrics at `/metrics`.
//!
//! Names and units follow Prometheus conventions (`_bytes`, `_seconds`, counters end in
//! `_total`, base units of money in `_base_units`); every series of this node carries the
//! `cairn_` prefix except the standard `process_*` series. Three kinds of source:
//!
//! - events counted as they happen in this process: HTTP request latency by route (a
//!   middleware reading axum's `MatchedPath`, so the label set is bounded by the routes),
//!   bytes added, gateway requests;
//! - figures read at each scrape ([`collect`]): database totals computed by the database
//!   (deals by state, proofs by outcome and their latency, channels, receipts, amounts earned
//!   and spent, pins, keeps), never counted from a capped list; the network (peers, Bitswap
//!   blocks and bytes each way, the wantlist); the store (used, and the disk's free space);
//!   build info;
//! - the process, from `/proc/self` ([`process`]).
//!
//! The answer is OpenMetrics when the scraper's `Accept` asks for
//! `application/openmetrics-text` (as Prometheus does), else the classic text format 0.0.4.
//! Scrapes are serialized, so a snapshot is never encoded while another is being read.

mod collect;
mod process;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{ApiError, AppState};

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the HTTP latency buckets.
const HTTP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// An HTTP request's labels: the route pattern (not the path, so ids do not make series),
/// the method and the status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub code: String,
}

type HttpFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub added_bytes: Counter,
    pub gateway_requests: Counter,
    /// The keeper's gauges (`cairn_keeper_*`), refreshed from the database at each scrape.
    pub keeper: super::keeps::KeeperGauges,
    http: HttpFamily,
    /// What the last scrape read, encoded by the collector.
    snapshot: collect::Shared,
    /// One scrape at a time.
    scrape: tokio::sync::Mutex<()>,
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

impl Metrics {
    pub fn new() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::Process));
        let registry = root.sub_registry_with_prefix("cairn");
        let added_bytes = Counter::default();
        let gateway_requests = Counter::default();
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
        let http: HttpFamily = Family::new_with_constructor(http_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head), by route, method and status",
            http.clone(),
        );
        let keeper = super::keeps::KeeperGauges::register(registry);
        let snapshot = collect::Shared::default();
        registry.register_collector(Box::new(snapshot.clone()));
        Metrics {
            registry: root,
            added_bytes,
            gateway_requests,
            keeper,
            http,
            snapshot,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, labels: &HttpLabels, seconds: f64) {
        self.http.get_or_create(labels).observe(seconds);
    }

    /// Reads every figure and encodes the registry (OpenMetrics text).
    pub async fn openmetrics(&self, state: &AppState) -> Result<String, ApiError> {
        let _one = self.scrape.lock().await;
        let snapshot = collect::Snapshot::read(state).await?;
        self.keeper.refresh(state.node.db()).await?;
        self.snapshot.set(snapshot);
        let mut text = String::new();
        encode(&mut text, &self.registry)
            .map_err(|e| ApiError::from(crate::node::NodeError::internal(e.to_string())))?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `GET /metrics`.
pub async fn render(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let text = state.metrics.openmetrics(&state).await?;
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    Ok(match wants_openmetrics {
        true => ([(header::CONTENT_TYPE, OPENMETRICS)], text),
        false => ([(header::CONTENT_TYPE, TEXT)], to_text_format(&text)),
    })
}

/// The middleware timing every request of a router, labelled by its matched route.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = HttpLabels {
        route,
        method,
        code: response.status().as_u16().to_string(),
    };
    state
        .metrics
        .observe_request(&labels, started.elapsed().as_secs_f64());
    response
}

/// OpenMetrics text as the classic text format 0.0.4: a counter's `TYPE` and `HELP` name its
/// `_total` samples, and `UNIT` and `# EOF` lines go.
pub fn to_text_format(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut out = String::with_capacity(openmetrics.len());
    let counter_of = |line: &str| -> Option<String> {
        let rest = line.strip_prefix("# TYPE ")?;
        let (name, kind) = rest.split_once(' ')?;
        (kind == "counter").then(|| name.to_string())
    };
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(name) = counter_of(line) {
            out.push_str(&format!("# TYPE {name}_total counter\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let next_is_counter = lines
                .get(i + 1)
                .and_then(|next| counter_of(next))
                .filter(|name| rest.starts_with(&format!("{name} ")));
            if let Some(name) = next_is_counter {
                let help = &rest[name.len()..];
                out.push_str(&format!("# HELP {name}_total{help}\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_counters_become_text_format_counters() {
        let om = "# HELP cairn_added_bytes File bytes added.\n# TYPE cairn_added_bytes counter\n\
                  cairn_added_bytes_total 5\n# HELP cairn_pins Pins.\n# TYPE cairn_pins gauge\n\
                  # UNIT cairn_pins pins\ncairn_pins 2\n# EOF\n";
        assert_eq!(
            to_text_format(om),
            "# HELP cairn_added_bytes_total File bytes added.\n\
             # TYPE cairn_added_bytes_total counter\ncairn_added_bytes_total 5\n\
             # HELP cairn_pins Pins.\n# TYPE cairn_pins gauge\ncairn_pins 2\n"
        );
    }
}
