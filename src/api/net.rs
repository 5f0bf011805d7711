//! The node API for the network: peers, dialing, provider records.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{auth::require_token, types, ApiError, AppState};
use crate::content::parse_cid;
use crate::net::NetHandle;

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/swarm/connect", post(connect))
        .route("/swarm/disconnect", post(disconnect))
        .route("/routing/provide/{cid}", post(provide))
        .route("/audit", post(audit))
        .layer(from_fn_with_state(state, require_token::<ApiError>));
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
) -> Result<Json<types::Connected>, ApiError> {
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
    Ok(Json(types::Connected {
        id: peer.to_string(),
        connected: true,
    }))
}

/// `POST /swarm/disconnect?addr=<multiaddr ending in /p2p/<id>>` (or a bare peer id).
async fn disconnect(
    State(state): State<AppState>,
    Query(params): Query<ConnectParams>,
) -> Result<Json<types::Disconnected>, ApiError> {
    let peer = peer_of(&params.addr)?;
    if !net(&state)?.disconnect(peer).await.map_err(net_error)? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_connected",
            format!("not connected to {peer}"),
        ));
    }
    Ok(Json(types::Disconnected {
        id: peer.to_string(),
        disconnected: true,
    }))
}

/// The peer an address names: its last `/p2p/<id>`, or the text itself as a peer id.
fn peer_of(addr: &str) -> Result<libp2p::PeerId, ApiError> {
    if let Ok(peer) = addr.parse::<libp2p::PeerId>() {
        return Ok(peer);
    }
    let parsed: libp2p::Multiaddr = addr.parse().map_err(|e| {
        ApiError::bad_request("bad_multiaddr", format!("invalid multiaddr {addr:?}: {e}"))
    })?;
    match parsed.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Ok(peer),
        _ => Err(ApiError::bad_request(
            "bad_multiaddr",
            format!("{addr:?} does not end with /p2p/<peer id>"),
        )),
    }
}

async fn peers(State(state): State<AppState>) -> Result<Json<types::Peers>, ApiError> {
    let peers = net(&state)?.peers().await.map_err(net_error)?;
    let peers = peers
        .iter()
        .map(|(p, a)| types::Peer {
            id: p.to_string(),
            addr: a.to_string(),
        })
        .collect();
    Ok(Json(types::Peers { peers }))
}

async fn find_providers(
    State(state): State<AppState>,
    Path(cid): Path<String>,
) -> Result<Json<types::FoundProviders>, ApiError> {
    let cid = parse_cid(&cid)?;
    let found = net(&state)?.find_providers(cid).await.map_err(net_error)?;
    let providers = found
        .into_iter()
        .map(|(p, addrs)| types::DhtProvider {
            id: p.to_string(),
            addresses: addrs.iter().map(ToString::to_string).collect(),
        })
        .collect();
    Ok(Json(types::FoundProviders {
        cid: cid.to_string(),
        providers,
    }))
}

async fn provide(
    State(state): State<AppState>,
    Path(cid): Path<String>,
) -> Result<Json<types::Provided>, ApiError> {
    let cid = parse_cid(&cid)?;
    if !state.node.content().has_block(&cid).await? {
        return Err(crate::content::ContentError::NotFound(cid).into());
    }
    net(&state)?.provide(cid).await.map_err(net_error)?;
    Ok(Json(types::Provided {
        cid: cid.to_string(),
        provided: true,
    }))
}

async fn audit(
    State(state): State<AppState>,
    Json(request): Json<types::AuditRequest>,
) -> Result<Json<types::AuditReport>, ApiError> {
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
    Ok(Json(report.into()))
}
