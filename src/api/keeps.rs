//! The node API for keeps, what `cairn keep` talks to: `POST /keeps` (keep a CID, or change
//! the policy of the keep it has), `GET /keeps`, `GET /keeps/{cid or id}`, `DELETE /keeps/{cid
//! or id}`; and the keeper's gauges for `/metrics`.
//!
//! A CLI keep states its whole policy: a field left out takes the node's `[keeper]` default,
//! not the keep's earlier value. Keeping a CID whose keep failed starts it afresh.
//!
//! `erasure` (`k+m`) holds the CID as erasure-coded slots; it is recorded as the keep's
//! `meta.erasure` (as the Pinning Service API sets it), and a keep's scheme is fixed: asking
//! for another one is refused (remove the keep first). `POST /keeps/{key}/restore` rebuilds an
//! erasure-coded keep's DAG from its slots and pins it again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{auth::require_token, types, ApiError, AppState};
use crate::db::{KeepQuery, KeepRow};
use crate::keeper::KeepStatus;
use crate::node::{KeepRequest, NodeError};

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/keeps", post(keep))
        .route("/keeps/{key}", delete(remove))
        .route("/keeps/{key}/restore", post(restore))
        .layer(from_fn_with_state(state, require_token::<ApiError>));
    Router::new()
        .route("/keeps", get(list))
        .route("/keeps/{key}", get(show))
        .merge(writes)
}

fn db_error(e: crate::db::DbError) -> ApiError {
    NodeError::from(e).into()
}

async fn keeps_of(state: &AppState, cid: &str) -> Result<Vec<KeepRow>, ApiError> {
    let query = KeepQuery {
        cids: vec![cid.to_string()],
        ..Default::default()
    };
    state.node.db().query_keeps(&query).await.map_err(db_error)
}

async fn report(state: &AppState, keep: KeepRow) -> Result<types::Keep, ApiError> {
    Ok(state.node.keeps().keep_report(keep).await?.into())
}

async fn keep(
    State(state): State<AppState>,
    Json(body): Json<types::KeepRequest>,
) -> Result<Json<types::Keep>, ApiError> {
    let cid = crate::content::parse_cid(&body.cid)?.to_string();
    let mut policy = state.node.keeps().default_keep_policy()?;
    policy.replicas = body.replicas.unwrap_or(policy.replicas);
    policy.duration_secs = body.duration_secs.unwrap_or(policy.duration_secs);
    policy.challenge_period_secs = body
        .challenge_period_secs
        .unwrap_or(policy.challenge_period_secs);
    policy.max_price_per_gib_month = body
        .max_price_per_gib_month
        .or(policy.max_price_per_gib_month);
    policy
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_policy", e.to_string()))?;
    let meta = erasure_meta(&body)?;
    let wanted = crate::node::erasure_spec_of(&meta)?;
    let existing = keeps_of(&state, &cid).await?;
    let row = match existing.iter().find(|k| k.status != KeepStatus::Failed) {
        Some(keep) => {
            if crate::node::erasure_spec_of(&keep.meta)? != wanted {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "keep_exists",
                    format!(
                        "{cid} is kept as {} already: remove the keep first to change that",
                        describe_scheme(&keep.meta)
                    ),
                ));
            }
            if keep.policy != policy {
                state
                    .node
                    .keeps()
                    .set_keep_policy(&keep.id, &policy)
                    .await?;
            }
            state.node.db().get_keep(&keep.id).await.map_err(db_error)?
        }
        None => {
            for failed in &existing {
                state.node.keeps().remove_keep(&failed.id).await?;
            }
            let request = KeepRequest {
                cid,
                name: None,
                origins: Vec::new(),
                meta,
                policy,
            };
            Some(state.node.keeps().create_keep(request).await?)
        }
    };
    let row = row.ok_or_else(|| NodeError::internal("the keep vanished"))?;
    report(&state, row).await.map(Json)
}

/// The meta an erasure request records: `erasure` and its repair threshold.
fn erasure_meta(
    body: &types::KeepRequest,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let mut meta = std::collections::BTreeMap::new();
    match (&body.erasure, body.repair_threshold) {
        (Some(scheme), threshold) => {
            meta.insert(crate::node::META_ERASURE.to_string(), scheme.clone());
            if let Some(t) = threshold {
                meta.insert(
                    crate::node::META_REPAIR_THRESHOLD.to_string(),
                    t.to_string(),
                );
            }
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid",
                "repair_threshold needs erasure".to_string(),
            ))
        }
        (None, None) => {}
    }
    Ok(meta)
}

fn describe_scheme(meta: &std::collections::BTreeMap<String, String>) -> String {
    match meta.get(crate::node::META_ERASURE) {
        Some(scheme) => format!("{scheme} erasure-coded slots"),
        None => "replicas".into(),
    }
}

/// Rebuilds an erasure-coded keep's DAG from its slots and pins it again.
async fn restore(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<types::KeepRestore>, ApiError> {
    let keeps = find(&state, &key).await?;
    let keep = keeps
        .iter()
        .find(|k| k.meta.contains_key(crate::node::META_ERASURE))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(
                "not_erasure_coded",
                format!("{key} is kept as replicas, not erasure-coded slots"),
            )
        })?;
    let report = state.node.keeps().restore_keep(&keep).await?;
    Ok(Json(report.into()))
}

async fn list(State(state): State<AppState>) -> Result<Json<types::Keeps>, ApiError> {
    let keeps = state
        .node
        .db()
        .query_keeps(&KeepQuery::default())
        .await
        .map_err(db_error)?;
    let mut out = Vec::new();
    for keep in keeps {
        out.push(report(&state, keep).await?);
    }
    Ok(Json(types::Keeps { keeps: out }))
}

/// The keeps `key` names: the keep with that id, else every keep of that CID (newest first).
async fn find(state: &AppState, key: &str) -> Result<Vec<KeepRow>, ApiError> {
    if let Some(keep) = state.node.db().get_keep(key).await.map_err(db_error)? {
        return Ok(vec![keep]);
    }
    let cid = crate::content::parse_cid(key)?;
    let keeps = keeps_of(state, &cid.to_string()).await?;
    if keeps.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_keep",
            format!("{key} is not kept here (`cairn keep ls`)"),
        ));
    }
    Ok(keeps)
}

async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<types::Keep>, ApiError> {
    let keep = find(&state, &key).await?.remove(0);
    report(&state, keep).await.map(Json)
}

async fn remove(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<types::KeepsRemoved>, ApiError> {
    let mut removed = Vec::new();
    for keep in find(&state, &key).await? {
        if state.node.keeps().remove_keep(&keep.id).await? {
            removed.push(keep.id);
        }
    }
    Ok(Json(types::KeepsRemoved { removed }))
}

/// The keeper's gauges, read from the keeps' stored health at every scrape.
#[derive(Debug, Default)]
pub struct KeeperGauges {
    keeps: Gauge,
    pinned: Gauge,
    shortfall: Gauge,
    at_risk: Gauge,
}

impl KeeperGauges {
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = KeeperGauges::default();
        let metrics = [
            (
                "keeper_keeps",
                "CIDs kept with a replication policy",
                &gauges.keeps,
            ),
            (
                "keeper_keeps_pinned",
                "Keeps with every replica healthy",
                &gauges.pinned,
            ),
            (
                "keeper_replica_shortfall",
                "Replicas wanted by keeps that no eligible provider can take",
                &gauges.shortfall,
            ),
            (
                "keeper_deals_at_risk",
                "Kept deals that missed their latest proof (warned before they are dropped)",
                &gauges.at_risk,
            ),
        ];
        for (name, help, gauge) in metrics {
            registry.register(name, help, gauge.clone());
        }
        gauges
    }

    pub async fn refresh(&self, db: &crate::db::Db) -> Result<(), ApiError> {
        let totals = db.keeper_totals().await.map_err(db_error)?;
        self.keeps.set(totals.keeps);
        self.pinned.set(totals.pinned);
        self.shortfall.set(totals.shortfall);
        self.at_risk.set(totals.at_risk);
        Ok(())
    }
}
