//! `routing/findprovs` and `routing/provide`: provider records in the DHT.
//!
//! Answers are Kubo's routing query events, one JSON line each
//! (`{"Extra", "ID", "Responses": [{"ID", "Addrs"}], "Type"}`): `findprovs` sends one
//! `Provider` event (type 4) per provider found, at most `num-providers` (default 20).
//! `provide` checks that every CID is stored here and that a peer is connected (Kubo's
//! `cannot provide, no connected peers`), announces each (with `recursive=true` every block
//! of its DAG) and answers once the announcements are done. Kubo streams the DHT's internal
//! query events while it works; Cairn's DHT exposes none, so the answer has no lines.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::swarm::online;
use super::{json_stream, Args, KuboError};
use crate::api::AppState;

/// `routing.QueryEventType` `Provider`.
const PROVIDER: u8 = 4;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueryEvent {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Type")]
    kind: u8,
    responses: Vec<PeerInfo>,
    extra: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PeerInfo {
    #[serde(rename = "ID")]
    id: String,
    addrs: Vec<String>,
}

pub async fn findprovs(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let cid = super::parse_cid(args.arg("key")?)?;
    let wanted = args.u64("num-providers")?.unwrap_or(20);
    if wanted == 0 {
        return Err(KuboError::client(
            "number of providers must be greater than 0",
        ));
    }
    let net = online(&state, &args)?;
    let found = net
        .find_providers(cid)
        .await
        .map_err(|e| KuboError::command(e.to_string()))?;
    let lines: Vec<_> = found
        .into_iter()
        .take(usize::try_from(wanted).unwrap_or(usize::MAX))
        .map(|(peer, addrs)| {
            Ok(super::error::json_line(&QueryEvent {
                id: String::new(),
                kind: PROVIDER,
                responses: vec![PeerInfo {
                    id: peer.to_string(),
                    addrs: addrs.iter().map(ToString::to_string).collect(),
                }],
                extra: String::new(),
            }))
        })
        .collect();
    Ok(json_stream(futures::stream::iter(lines)))
}

pub async fn provide(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let keys = args.args("key")?;
    let recursive = args.bool("recursive", false)?;
    let net = online(&state, &args)?;
    let content = state.node.content();
    let mut cids = Vec::new();
    for key in keys {
        let cid = super::parse_cid(key)?;
        if !content.has_block(&cid).await? {
            return Err(KuboError::command(format!(
                "block {cid} not found locally, cannot provide"
            )));
        }
        cids.push(cid);
    }
    let connected = net
        .peers()
        .await
        .map_err(|e| KuboError::command(e.to_string()))?;
    if connected.is_empty() {
        return Err(KuboError::command("cannot provide, no connected peers"));
    }
    for cid in cids {
        let all = match recursive {
            true => content.dag_blocks(&cid).await?,
            false => vec![cid],
        };
        for block in all {
            net.provide(block)
                .await
                .map_err(|e| KuboError::command(format!("provide {block}: {e}")))?;
        }
    }
    Ok(json_stream(futures::stream::empty()))
}
