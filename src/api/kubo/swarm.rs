//! `swarm/peers`, `swarm/connect`, `swarm/disconnect`.
//!
//! Addresses are multiaddrs ending in `/p2p/<peer id>`; `disconnect` also takes a bare
//! `/p2p/<peer id>`. As Kubo: `connect` answers `{"Strings": ["connect <id> success"]}` and
//! fails the call if a dial fails; `disconnect` reports each address's outcome in its line
//! (`disconnect <id> failure: not connected`) and does not fail the call for it.

use axum::extract::State;
use axum::response::Response;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

use super::{json, Args, KuboError};
use crate::api::AppState;
use crate::net::NetHandle;

/// Kubo's `ErrNotOnline`.
pub const NOT_ONLINE: &str =
    "this action must be run in online mode, try running 'ipfs daemon' first";

pub fn online<'a>(state: &'a AppState, args: &Args) -> Result<&'a NetHandle, KuboError> {
    if args.offline()? {
        return Err(KuboError::command(NOT_ONLINE));
    }
    state
        .node
        .net()
        .running()
        .ok_or_else(|| KuboError::command(NOT_ONLINE))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Strings {
    strings: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConnInfo {
    addr: String,
    peer: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Peers {
    peers: Vec<ConnInfo>,
}

pub async fn peers(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let net = online(&state, &args)?;
    let mut peers: Vec<ConnInfo> = net
        .peers()
        .await
        .map_err(|e| KuboError::command(e.to_string()))?
        .into_iter()
        .map(|(peer, addr)| ConnInfo {
            addr: without_peer(&addr).to_string(),
            peer: peer.to_string(),
        })
        .collect();
    peers.sort_by(|a, b| a.peer.cmp(&b.peer));
    Ok(json(&Peers { peers }))
}

fn parse_addr(text: &str) -> Result<Multiaddr, KuboError> {
    text.parse::<Multiaddr>()
        .map_err(|e| KuboError::command(format!("invalid multiaddr {text:?}: {e}")))
}

/// The peer an address ends with (`/p2p/<id>`).
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

pub async fn connect(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let addrs = args.args("address")?;
    let net = online(&state, &args)?;
    let mut strings = Vec::new();
    for text in addrs {
        let addr = parse_addr(text)?;
        let Some(peer) = peer_of(&addr) else {
            return Err(KuboError::command(format!(
                "{text}: the address must end with /p2p/<peer id>"
            )));
        };
        net.dial(addr)
            .await
            .map_err(|e| KuboError::command(format!("connect {peer} failure: {e}")))?;
        strings.push(format!("connect {peer} success"));
    }
    Ok(json(&Strings { strings }))
}

pub async fn disconnect(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let addrs = args.args("address")?;
    let net = online(&state, &args)?;
    let mut strings = Vec::new();
    for text in addrs {
        let addr = parse_addr(text)?;
        let Some(peer) = peer_of(&addr) else {
            return Err(KuboError::command(format!(
                "{text}: the address must end with /p2p/<peer id>"
            )));
        };
        let closed = net
            .disconnect(peer)
            .await
            .map_err(|e| KuboError::command(e.to_string()))?;
        strings.push(match closed {
            true => format!("disconnect {peer} success"),
            false => format!("disconnect {peer} failure: not connected"),
        });
    }
    Ok(json(&Strings { strings }))
}
