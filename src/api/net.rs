//! The node API for the network: peers, dialing, provider records.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{auth::require_token, ApiError, AppState};
use crate::content::parse_cid;
use crate::net::NetHandle;

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/swarm/connect", post(connect))
        .route("/routing/provide/{cid}", post(provide))
        .route("/audit", post(audit))
        .layer(from_fn_with_state(state, require_token));
    Router::new()
        .route("/swarm/peers", get(peers))
        .route("/routing/findprovs/{cid}", get(find_providers))
        .merge(writes)
}

fn net(state: &AppState) -> Result<&NetHandle, ApiError> {
    state.node.net().running().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "offline",
            "the network is not running",
        )
    })
}

fn net_error(e: crate::net::NetError) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "network", e.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectParams {
    addr: String,
}

async fn connect(
    State(state): State<AppState>,
    Query(params): Query<ConnectParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let addr: libp2p::Multiaddr = params.addr.parse().map_err(|e| {
        ApiError::bad_request(
            "bad_multiaddr",
            format!("invalid multiaddr {:?}: {e}", params.addr),
        )
    })?;
    let peer = net(&state)?.dial(addr).await.map_err(|e| match e {
        crate::net::NetError::Dial(..) => ApiError::bad_request("dial_failed", e.to_string()),
        other => net_error(other),
    })?;
    Ok(Json(
        serde_json::json!({"id": peer.to_string(), "connected": true}),
    ))
}

async fn peers(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let peers = net(&state)?.peers().await.map_err(net_error)?;
    let list: Vec<_> = peers
        .iter()
        .map(|(p, a)| serde_json::json!({"id": p.to_string(), "addr": a.to_string()}))
        .collect();
    Ok(Json(serde_json::json!({"peers": list})))
}

async fn find_providers(
    State(state): State<AppState>,
    Path(cid): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let cid = parse_cid(&cid)?;
    let found = net(&state)?.find_providers(cid).await.map_err(net_error)?;
    let list: Vec<crate::net::Provider> = found
        .into_iter()
        .map(|(p, addrs)| crate::net::Provider {
            id: p.to_string(),
            addresses: addrs.iter().map(ToString::to_string).collect(),
        })
        .collect();
    Ok(Json(
        serde_json::json!({"cid": cid.to_string(), "providers": list}),
    ))
}

async fn provide(
    State(state): State<AppState>,
    Path(cid): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let cid = parse_cid(&cid)?;
    if !state.node.content().has_block(&cid).await? {
        return Err(crate::content::ContentError::NotFound(cid).into());
    }
    net(&state)?.provide(cid).await.map_err(net_error)?;
    Ok(Json(
        serde_json::json!({"cid": cid.to_string(), "provided": true}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditRequest {
    /// A peer id of a connected peer, or a multiaddr ending in `/p2p/<peer id>`.
    peer: String,
    /// The piece root, 64 hex characters.
    root: String,
    size: u64,
    samples: Option<u32>,
    timeout_ms: Option<u64>,
}

async fn audit(
    State(state): State<AppState>,
    Json(request): Json<AuditRequest>,
) -> Result<Json<crate::node::AuditReport>, ApiError> {
    let root: [u8; 32] = hex::decode(&request.root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::bad_request("bad_root", "root must be 64 hex characters (a BLAKE3 hash)")
        })?;
    let net = net(&state)?;
    let peer = match request.peer.parse::<libp2p::PeerId>() {
        Ok(peer) => peer,
        Err(_) => {
            let addr: libp2p::Multiaddr = request.peer.parse().map_err(|_| {
                ApiError::bad_request(
                    "bad_peer",
                    format!("{:?} is neither a peer id nor a multiaddr", request.peer),
                )
            })?;
            net.dial(addr)
                .await
                .map_err(|e| ApiError::bad_request("dial_failed", e.to_string()))?
        }
    };
    let commitment = crate::proof::PieceCommitment {
        root,
        size: request.size,
    };
    let timeout = std::time::Duration::from_millis(request.timeout_ms.unwrap_or(10_000));
    let report = state
        .node
        .deals()
        .audit(peer, commitment, request.samples.unwrap_or(20), timeout)
        .await?;
    Ok(Json(report))
}
