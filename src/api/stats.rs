//! The node API for traffic figures: `GET /stats/bw`, the bytes libp2p moved since the
//! network started (every transport, every protocol), with averages over that time.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::{types, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/stats/bw", get(bandwidth))
}

async fn bandwidth(State(state): State<AppState>) -> Result<Json<types::BandwidthStats>, ApiError> {
    let net = state.node.net().running().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "offline",
            "the network is not running",
        )
    })?;
    let totals = net.bandwidth();
    let seconds = net.uptime().as_secs().max(1);
    Ok(Json(types::BandwidthStats {
        total_in: totals.total_in,
        total_out: totals.total_out,
        seconds,
        rate_in: totals.total_in / seconds,
        rate_out: totals.total_out / seconds,
    }))
}
