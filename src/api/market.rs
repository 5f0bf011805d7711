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

/// Providers from three sources: connected peers asked directly, asks published on the ask
/// topic, and peers announced in the DHT (dialled, then asked). Each ask is kept only if its
/// signature holds, it has not expired and its signer is the peer it came from; newest per
/// peer; cheapest first.
async fn providers(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let network = |e: crate::net::NetError| {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "network",
            e.to_string(),
        )
    };
    let net = state.node.net.get().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "offline",
            "the network is not running",
        )
    })?;
    let mut peers: Vec<PeerId> = net
        .peers()
        .await
        .map_err(network)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    if let Ok(found) = net.find_providers(crate::market::providers_key()).await {
        for (peer, addrs) in found {
            if peer == state.node.peer_id || peers.contains(&peer) {
                continue;
            }
            for addr in addrs {
                if net.dial(addr).await.is_ok() {
                    peers.push(peer);
                    break;
                }
            }
        }
    }
    let asked = peers.iter().map(|peer| async move {
        match net.market(*peer, &MarketRequest::GetAsk, ASK_TIMEOUT).await {
            Ok(MarketResponse::Ask(signed)) => Some((*peer, signed)),
            _ => None,
        }
    });
    let mut asks: Vec<(PeerId, Signed<Ask>)> = futures::future::join_all(asked)
        .await
        .into_iter()
        .flatten()
        .collect();
    for (peer, bytes) in net.gossiped_asks() {
        if let Ok(signed) = Signed::<Ask>::from_bytes(&bytes, crate::market::ask::MAX_ASK_SIZE) {
            asks.push((peer, signed));
        }
    }
    let now = now_ms().max(0) as u64;
    let mut newest: std::collections::HashMap<PeerId, Signed<Ask>> =
        std::collections::HashMap::new();
    for (peer, signed) in asks {
        if peer == state.node.peer_id
            || signed.check(now).is_err()
            || signer_peer(&signed) != Some(peer)
        {
            continue;
        }
        if newest
            .get(&peer)
            .is_none_or(|old| old.payload.seq < signed.payload.seq)
        {
            newest.insert(peer, signed);
        }
    }
    let mut found: Vec<_> = newest.into_iter().collect();
    found.sort_by_key(|(peer, signed)| (signed.payload.price_per_gib_month, peer.to_string()));
    let list: Vec<_> = found
        .iter()
        .map(|(peer, signed)| view(&peer.to_string(), &signed.payload))
        .collect();
    Ok(Json(serde_json::json!({"providers": list})))
}

pub fn deal_routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/deals", post(make_deal))
        .layer(from_fn_with_state(state, require_token));
    Router::new()
        .route("/deals", get(list_deals))
        .route("/deals/{id}", get(show_deal))
        .merge(writes)
}

async fn make_deal(
    State(state): State<AppState>,
    Json(request): Json<crate::node::DealRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let row = state.node.make_deal(&request).await?;
    deal_view(&state, row).await.map(Json)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    role: Option<String>,
}

async fn list_deals(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let role = params.role.unwrap_or_else(|| "client".into());
    if role != "client" && role != "provider" {
        return Err(ApiError::bad_request(
            "bad_role",
            "role is client or provider",
        ));
    }
    let rows = state
        .node
        .db
        .list_deals(&role, None)
        .await
        .map_err(crate::node::NodeError::from)?;
    let mut deals = Vec::new();
    for row in rows {
        deals.push(deal_view(&state, row).await?);
    }
    Ok(Json(serde_json::json!({"deals": deals})))
}

async fn show_deal(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let row = state
        .node
        .db
        .get_deal(&id)
        .await
        .map_err(crate::node::NodeError::from)?;
    let row = row.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_deal",
            format!("no deal {id}"),
        )
    })?;
    deal_view(&state, row).await.map(Json)
}

/// A deal with its history and proof record.
async fn deal_view(
    state: &AppState,
    row: crate::db::DealRow,
) -> Result<serde_json::Value, ApiError> {
    let db = &state.node.db;
    let events = db
        .deal_events(&row.id)
        .await
        .map_err(crate::node::NodeError::from)?;
    let role = if row.role == "client" {
        "verifier"
    } else {
        "prover"
    };
    let challenges: Vec<_> = db
        .challenges_for(&row.piece_root)
        .await
        .map_err(crate::node::NodeError::from)?
        .into_iter()
        .filter(|c| c.role == role && c.peer == row.peer)
        .collect();
    let passed = challenges
        .iter()
        .filter(|c| c.outcome == "passed" || c.outcome == "answered")
        .count();
    Ok(serde_json::json!({
        "id": row.id, "role": row.role, "peer": row.peer, "root": row.root_cid,
        "piece_root": row.piece_root, "piece_size": row.piece_size, "state": row.state,
        "created_at": row.created_at, "updated_at": row.updated_at,
        "proofs_passed": passed, "proofs_failed": challenges.len() - passed,
        "events": events, "challenges": challenges,
    }))
}
