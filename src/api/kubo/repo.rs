//! `repo/gc`, `repo/stat` and `stats/bw`.
//!
//! - `repo/gc` removes every block no pin holds and answers one `{"Key": {"/": <cid>}}`
//!   line per removed block, as Kubo does.
//! - `repo/stat` answers `RepoSize` (bytes of stored blocks), `StorageMax` (the store's quota;
//!   without one, the largest 64-bit number: nothing caps the store), `NumObjects`,
//!   `RepoPath` and `Version`.
//! - `stats/bw` counts Bitswap's payload bytes in and out (per peer with `peer=`): Cairn meters
//!   the bytes its protocols move, not the transports', so `TotalIn`/`TotalOut` cover block
//!   exchange only. A single answer has no interval to measure a rate over, so its
//!   `RateIn`/`RateOut` are 0; with `poll=true` one line is sent every `interval` (default
//!   1s), its rates measured over that interval.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use libp2p::PeerId;
use serde::Serialize;

use super::swarm::online;
use super::{json, json_stream, line_channel, Args, KuboError};
use crate::api::AppState;
use crate::net::NetHandle;

#[derive(Debug, Serialize)]
struct CidLink {
    #[serde(rename = "/")]
    cid: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GcResult {
    key: CidLink,
}

pub async fn gc(State(state): State<AppState>) -> Result<Response, KuboError> {
    let (_, removed) = state.node.content().gc_listed().await?;
    let lines: Vec<_> = removed
        .into_iter()
        .map(|cid| {
            Ok(super::error::json_line(&GcResult {
                key: CidLink {
                    cid: cid.to_string(),
                },
            }))
        })
        .collect();
    Ok(json_stream(futures::stream::iter(lines)))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RepoStat {
    repo_size: u64,
    storage_max: u64,
    num_objects: u64,
    repo_path: String,
    version: String,
}

pub async fn stat(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let size_only = args.bool("size-only", false)?;
    let store = state.node.content().store();
    let mut stat = RepoStat {
        repo_size: store.used_bytes(),
        storage_max: store.quota().unwrap_or(u64::MAX),
        num_objects: 0,
        repo_path: String::new(),
        version: String::new(),
    };
    if !size_only {
        stat.num_objects = state.node.content().block_count().await?;
        stat.repo_path = state.node.data().root().display().to_string();
        stat.version = super::core::REPO_VERSION.to_string();
    }
    Ok(json(&stat))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BandwidthStats {
    total_in: u64,
    total_out: u64,
    rate_in: f64,
    rate_out: f64,
}

/// Bitswap's byte totals, over every peer or one.
fn totals(net: &NetHandle, peer: Option<PeerId>) -> (u64, u64) {
    net.ledgers()
        .into_iter()
        .filter(|(p, _)| peer.is_none_or(|want| *p == want))
        .fold((0, 0), |(i, o), (_, l)| {
            (i + l.bytes_received, o + l.bytes_sent)
        })
}

pub async fn bw(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let peer = match args.flag("peer") {
        Some(text) => Some(
            text.parse::<PeerId>()
                .map_err(|e| KuboError::command(format!("invalid peer id {text:?}: {e}")))?,
        ),
        None => None,
    };
    if let Some(proto) = args.flag("proto") {
        if !proto.starts_with("/ipfs/bitswap/") {
            return Err(KuboError::command(format!(
                "bandwidth is metered for Bitswap only, not for {proto:?}"
            )));
        }
    }
    let net = online(&state, &args)?.clone();
    let (total_in, total_out) = totals(&net, peer);
    if !args.bool("poll", false)? {
        return Ok(json(&BandwidthStats {
            total_in,
            total_out,
            rate_in: 0.0,
            rate_out: 0.0,
        }));
    }
    let interval = match args.flag("interval") {
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| KuboError::bad_request(format!("invalid interval {text:?}: {e}")))?,
        None => Duration::from_secs(1),
    };
    if interval.is_zero() {
        return Err(KuboError::command("interval must be greater than 0"));
    }
    let (tx, lines) = line_channel();
    state.node.parts().tasks.spawn(async move {
        let mut last = (total_in, total_out);
        let first = super::error::json_line(&BandwidthStats {
            total_in,
            total_out,
            rate_in: 0.0,
            rate_out: 0.0,
        });
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = totals(&net, peer);
            let secs = interval.as_secs_f64();
            let line = super::error::json_line(&BandwidthStats {
                total_in: now.0,
                total_out: now.1,
                rate_in: now.0.saturating_sub(last.0) as f64 / secs,
                rate_out: now.1.saturating_sub(last.1) as f64 / secs,
            });
            last = now;
            // The client went away: stop polling.
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
    });
    Ok(json_stream(lines))
}
