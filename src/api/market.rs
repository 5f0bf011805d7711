//! The node API for the market: this node's ask, and the asks of connected providers.

use std::time::Duration;

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use libp2p::PeerId;

use super::{auth::require_token, ApiError, AppState};
use crate::db::now_ms;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::market::{Ask, Signed};
use crate::node::AskTerms;

/// How long a provider may take to answer an ask request.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/provider/ask", post(set_ask))
        .layer(from_fn_with_state(state, require_token));
    Router::new()
        .route("/provider/ask", get(show_ask))
        .route("/providers", get(providers))
        .merge(writes)
}

/// An ask as the API shows it.
fn view(peer: &str, ask: &Ask) -> serde_json::Value {
    serde_json::json!({
        "peer": peer,
        "price_per_gib_month": ask.price_per_gib_month.0,
        "retrieval_price_per_gib": ask.retrieval_price_per_gib.0,
        "min_duration_secs": ask.min_duration_secs,
        "max_duration_secs": ask.max_duration_secs,
        "max_piece_size": ask.max_piece_size,
        "free_capacity": ask.free_capacity,
        "min_challenge_period_secs": ask.min_challenge_period_secs,
        "expires_at": ask.expires_at,
    })
}

async fn set_ask(
    State(state): State<AppState>,
    Json(terms): Json<AskTerms>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ask = state.node.set_ask_terms(&terms).await?;
    Ok(Json(view(&state.node.peer_id.to_string(), &ask.payload)))
}

async fn show_ask(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    match state.node.signed_ask().await? {
        Some(ask) => Ok(Json(view(&state.node.peer_id.to_string(), &ask.payload))),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_ask",
            "no ask set: `cairn provider ask set ...`",
        )),
    }
}

/// The peer an ask's signer key is, so an ask relayed or forged in another's name is refused.
fn signer_peer(ask: &Signed<Ask>) -> Option<PeerId> {
    let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&ask.signer).ok()?;
    Some(libp2p_identity::PublicKey::from(key).to_peer_id())
}

/// Asks every connected peer for its ask; lists the valid ones, cheapest first.
async fn providers(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let net = state.node.net.get().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "offline",
            "the network is not running",
        )
    })?;
    let peers = net.peers().await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "network",
            e.to_string(),
        )
    })?;
    let requests = peers.iter().map(|(peer, _)| async move {
        let reply = net
            .market(*peer, &MarketRequest::GetAsk, ASK_TIMEOUT)
            .await
            .ok()?;
        let MarketResponse::Ask(signed) = reply else {
            return None;
        };
        let now = now_ms().max(0) as u64;
        let valid = signed.check(now).is_ok() && signer_peer(&signed) == Some(*peer);
        valid.then(|| {
            (
                signed.payload.price_per_gib_month,
                view(&peer.to_string(), &signed.payload),
            )
        })
    });
    let mut found: Vec<_> = futures::future::join_all(requests)
        .await
        .into_iter()
        .flatten()
        .collect();
    found.sort_by_key(|(price, _)| *price);
    let list: Vec<_> = found.into_iter().map(|(_, v)| v).collect();
    Ok(Json(serde_json::json!({"providers": list})))
}
