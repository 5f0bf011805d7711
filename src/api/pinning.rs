//! The IPFS Pinning Service API v1.0.0 (`shared/specs/ipfs-pinning-service.yaml`) at `/pins`
//! on the node's API server, so any client of the spec (Kubo's `ipfs pin remote`, say) can
//! ask this node to keep a CID. A pin request is a keep (`node::keeps`): the node pins the
//! CID itself (dialling `origins` first), then the keeper makes and audits storage deals.
//!
//! - Every call needs `Authorization: Bearer <api.token>`.
//! - Errors are the spec's `Failure`: `{"error": {"reason": "...", "details": "..."}}`, with
//!   400 for bad input (CID, limit, meta, timestamps, body), 401 for a missing or wrong
//!   token, 404 for an unknown `requestid`; internals are logged, never returned.
//! - `status` follows the deals (see `keeper::repair`): `queued`, `pinning`, `pinned` when at
//!   least `replicas` deals passed their latest proof, `failed` when the DAG could not be
//!   fetched. `info` (strings, per the spec) carries `status_details`, the policy, the
//!   providers and deals, the last proof, `paid`, `dag_size` and `pinned_until`.
//! - The policy is the node's `[keeper]` defaults, overridden by `meta` keys `replicas`,
//!   `duration`, `max_price_per_gib_month` and `challenge_period`; a malformed one is a 400.
//! - `GET /pins` without `status` lists `pinned` pins only, as the spec says.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::{require_token, Refusal, Refuse};
use super::{ApiError, AppState};
use crate::db::KeepRow;
use crate::node::{KeepReport, KeepRequest, NodeError};

mod query;

use query::{format_time, list_filter, string_map};

/// Parses a `GET /pins` query string as the handler does (for the fuzz targets): whether it
/// makes a valid filter.
pub(crate) fn parse_list_query(text: &str) -> bool {
    let Ok(uri) = format!("/pins?{text}").parse::<axum::http::Uri>() else {
        return false;
    };
    match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(params)) => list_filter(params).is_ok(),
        Err(_) => false,
    }
}

pub fn routes(state: AppState) -> axum::Router<AppState> {
    Router::new()
        .route("/pins", get(list).post(create))
        .route("/pins/{requestid}", get(show).post(replace).delete(remove))
        .layer(from_fn_with_state(state, require_token::<PinError>))
}

/// The spec's `Failure` response.
#[derive(Debug)]
pub struct PinError {
    status: StatusCode,
    reason: String,
    details: String,
}

impl PinError {
    fn bad(reason: &str, details: impl Into<String>) -> Self {
        PinError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
            details: details.into(),
        }
    }

    fn not_found(id: &str) -> Self {
        PinError {
            status: StatusCode::NOT_FOUND,
            reason: "NOT_FOUND".into(),
            details: format!("no pin request {id:?}"),
        }
    }
}

impl IntoResponse for PinError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"reason": self.reason, "details": self.details}});
        (self.status, Json(body)).into_response()
    }
}

impl From<ApiError> for PinError {
    fn from(e: ApiError) -> Self {
        let reason = match e.status {
            StatusCode::INTERNAL_SERVER_ERROR => "INTERNAL_SERVER_ERROR".to_string(),
            // The spec's mnemonic for input it cannot take.
            _ if e.reason == "invalid" => "BAD_REQUEST".to_string(),
            _ => e.reason.to_uppercase(),
        };
        PinError {
            status: e.status,
            reason,
            details: e.message,
        }
    }
}

impl From<NodeError> for PinError {
    fn from(e: NodeError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::db::DbError> for PinError {
    fn from(e: crate::db::DbError) -> Self {
        NodeError::from(e).into()
    }
}

impl Refuse for PinError {
    fn refuse(why: Refusal) -> Self {
        let details = match why {
            Refusal::Wrong => "the access token is invalid",
            Refusal::Missing => {
                "the access token is missing: send `Authorization: Bearer <api.token>`"
            }
        };
        PinError {
            status: StatusCode::UNAUTHORIZED,
            reason: "UNAUTHORIZED".into(),
            details: details.into(),
        }
    }
}

/// The spec's `Pin` object, as sent.
#[derive(Debug, serde::Deserialize)]
struct PinBody {
    cid: String,
    name: Option<String>,
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default)]
    meta: BTreeMap<String, serde_json::Value>,
}

/// Turns a request body into a keep request with the node's policy and `meta` overrides.
fn keep_request(state: &AppState, body: &[u8]) -> Result<KeepRequest, PinError> {
    let pin: PinBody = serde_json::from_slice(body)
        .map_err(|e| PinError::bad("INVALID_BODY", format!("not a Pin object: {e}")))?;
    let cid = crate::content::parse_cid(&pin.cid)
        .map_err(|e| PinError::bad("INVALID_CID", e.to_string()))?;
    let meta = string_map(pin.meta)?;
    let policy = state
        .node
        .keeps()
        .default_keep_policy()?
        .with_meta(&meta)
        .map_err(|e| PinError::bad("INVALID_META", e.to_string()))?;
    Ok(KeepRequest {
        cid: cid.to_string(),
        name: pin.name,
        origins: pin.origins,
        meta,
        policy,
    })
}

async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, PinError> {
    let request = keep_request(&state, &body)?;
    let keep = state.node.keeps().create_keep(request).await?;
    let view = pin_status(&state, keep).await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, PinError> {
    let keep = state.node.db().get_keep(&id).await?;
    let keep = keep.ok_or_else(|| PinError::not_found(&id))?;
    Ok(Json(pin_status(&state, keep).await?))
}

async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PinError> {
    if state.node.db().get_keep(&id).await?.is_none() {
        return Err(PinError::not_found(&id));
    }
    let request = keep_request(&state, &body)?;
    let keep = state.node.keeps().replace_keep(&id, request).await?;
    let keep = keep.ok_or_else(|| PinError::not_found(&id))?;
    let view = pin_status(&state, keep).await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, PinError> {
    if state.node.keeps().remove_keep(&id).await? {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(PinError::not_found(&id))
    }
}

async fn list(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, PinError> {
    let Query(params) = params.map_err(|e| PinError::bad("INVALID_QUERY", e.body_text()))?;
    let filter = list_filter(params)?;
    let keeps: Vec<KeepRow> = state
        .node
        .db()
        .query_keeps(&filter.query)
        .await?
        .into_iter()
        .filter(|k| filter.admits(k))
        .collect();
    let count = keeps.len();
    let mut results = Vec::new();
    for keep in keeps.into_iter().take(filter.limit) {
        results.push(pin_status(&state, keep).await?);
    }
    Ok(Json(
        serde_json::json!({"count": count, "results": results}),
    ))
}

/// The spec's `PinStatus` for a keep.
async fn pin_status(state: &AppState, keep: KeepRow) -> Result<serde_json::Value, PinError> {
    let delegates: Vec<String> = match state.node.net().running() {
        Some(net) => net
            .listen_addrs()
            .await
            .map(|a| a.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let report = state.node.keeps().keep_report(keep).await?;
    let mut pin = serde_json::json!({
        "cid": report.keep.cid, "origins": report.keep.origins, "meta": report.keep.meta,
    });
    if let Some(name) = &report.keep.name {
        pin["name"] = name.clone().into();
    }
    Ok(serde_json::json!({
        "requestid": report.keep.id,
        "status": report.keep.status,
        "created": format_time(report.keep.created_at),
        "pin": pin,
        "delegates": delegates,
        "info": info(&report),
    }))
}

/// `PinStatus.info`: strings only, per the spec.
fn info(report: &KeepReport) -> BTreeMap<&'static str, String> {
    let keep = &report.keep;
    let p = &keep.policy;
    let live: Vec<_> = report
        .providers
        .iter()
        .filter(|r| r.state == "live")
        .collect();
    let mut info = BTreeMap::from([
        (
            "status_details",
            keep.status_details.clone().unwrap_or_default(),
        ),
        ("replicas", p.replicas.to_string()),
        ("healthy_replicas", keep.healthy.to_string()),
        ("shortfall", keep.shortfall.to_string()),
        ("at_risk", keep.at_risk.to_string()),
        ("duration_secs", p.duration_secs.to_string()),
        ("challenge_period_secs", p.challenge_period_secs.to_string()),
        (
            "max_price_per_gib_month",
            p.max_price_per_gib_month
                .map_or("none".into(), |c| c.to_string()),
        ),
        (
            "providers",
            live.iter()
                .map(|r| r.peer.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "deals",
            live.iter()
                .map(|r| r.deal.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("paid", report.paid.to_string()),
    ]);
    if let Some(size) = keep.piece_size {
        info.insert("dag_size", size.to_string());
    }
    if let Some(until) = live.iter().filter_map(|r| r.ends_at).min() {
        info.insert(
            "pinned_until",
            format_time(until.min(i64::MAX as u64) as i64),
        );
    }
    let last = live
        .iter()
        .filter_map(|r| r.last_proof.as_ref().map(|p| (p, &r.peer)))
        .max_by_key(|(p, _)| p.issued_at);
    if let Some((proof, peer)) = last {
        let at = format_time(proof.issued_at);
        info.insert("last_proof", format!("{} at {at} by {peer}", proof.outcome));
    }
    info
}
