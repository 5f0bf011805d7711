//! The HTTP interfaces: the node API (JSON, streaming uploads and downloads), the path and
//! trustless gateway, `/metrics`, `/health` and the status page (`/`).
//!
//! Routers are built from shared state (`fn router(state) -> Router`) so they are tested with
//! `tower::ServiceExt::oneshot` and no server. Write calls need the API token as a bearer
//! token. Every error is JSON `{"error": <machine-readable reason>, "message": <text>}` with
//! the matching status; internal details are logged, not returned.
//!
//! The JSON bodies of the node API are the structs of [`types`], which the CLI reads back;
//! `views` maps the node's records onto them. `GET /api/v1/openapi.json` describes them
//! (`openapi.rs`).
//!
//! The IPFS Pinning Service API (`pinning`) is served at `/pins`, outside `/api/v1`, where its
//! clients expect it, with the spec's own error body `{"error": {"reason", "details"}}`.

mod auth;
mod body;
mod chain;
mod content;
mod dag;
mod error;
mod gateway;
#[cfg(test)]
mod gateway_tests;
mod host;
mod keeps;
mod kubo;
mod market;
mod metrics;
mod net;
mod openapi;
mod pay;
mod pinning;
mod repo;
mod server;
mod stats;
mod status;
#[cfg(test)]
mod tests;
mod trustless;
pub mod types;
mod views;

pub use error::ApiError;
pub use metrics::Metrics;
pub use server::HttpLimits;

/// The Pinning Service API's query parser, for `crate::fuzzing`.
pub(crate) fn parse_pins_query(text: &str) -> bool {
    pinning::parse_list_query(text)
}

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::node::Node;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub node: Node,
    pub metrics: Arc<Metrics>,
    /// What write calls must present (the node's `api.token`).
    pub token: auth::ApiToken,
    /// The gateway's URL, once bound (reported by `/api/v1/id`).
    pub urls: Arc<std::sync::OnceLock<BoundUrls>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BoundUrls {
    pub api: String,
    pub gateway: String,
}

impl AppState {
    pub fn new(node: Node) -> Self {
        AppState {
            token: auth::ApiToken::new(node.api_token()),
            node,
            metrics: Arc::new(Metrics::new()),
            urls: Arc::default(),
        }
    }
}

/// The node API: `/api/v1/...`, `/health`, `/metrics`, and the status page at `/`.
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .nest(
            "/api/v1",
            content::routes(state.clone())
                .merge(net::routes(state.clone()))
                .merge(market::routes(state.clone()))
                .merge(market::deal_routes(state.clone()))
                .merge(keeps::routes(state.clone()))
                .merge(pay::routes(state.clone()))
                .merge(chain::routes(state.clone()))
                .merge(repo::routes(state.clone()))
                .merge(stats::routes())
                .merge(openapi::routes())
                .merge(status::routes()),
        )
        // Kubo's RPC API, for the tools written against Kubo.
        .nest("/api/v0", kubo::routes(state.clone()))
        .route(
            "/health",
            get(|| async {
                axum::Json(types::Health {
                    status: "ok".into(),
                })
            }),
        )
        .route("/metrics", get(metrics::render))
        // The IPFS Pinning Service API at the server's root, where its clients expect it.
        .merge(pinning::routes(state.clone()))
        .merge(status::page_routes())
        // Outermost: a request for another host or from another site's page gets no further.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host::local_only,
        ))
        // Times every request, refused ones included, by its matched route.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// The gateway: `/ipfs/<cid>[/<path>]`.
pub fn gateway_router(state: AppState) -> Router {
    gateway::routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, within `limits` (a connection
/// cap, header-read and idle timeouts: [`server`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router, limits, shutdown).await
}
