//! The node API for the repository as a whole: `POST /repo/verify[?repair=true]` and
//! `GET /repo/stat`.

use axum::extract::{Query, State};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{auth::require_token, types, ApiError, AppState};
use crate::node::{NodeError, VerifyReport};

pub fn routes(state: AppState) -> Router<AppState> {
    // A full pass reads every block, and a repair deletes and fetches: the token's to ask.
    Router::new()
        .route("/repo/verify", post(verify))
        .layer(from_fn_with_state(state, require_token::<ApiError>))
        .route("/repo/stat", get(stat))
}

async fn stat(State(state): State<AppState>) -> Result<Json<types::RepoStat>, ApiError> {
    let node = &state.node;
    let blocks = node.db().block_count().await.map_err(NodeError::from)?;
    Ok(Json(types::RepoStat {
        num_objects: blocks,
        repo_size: node.content().store().used_bytes(),
        storage_max: node.content().store().quota(),
        repo_path: node.data().root().display().to_string(),
        version: concat!("cairn/", env!("CARGO_PKG_VERSION")).to_string(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyParams {
    #[serde(default)]
    repair: bool,
}

async fn verify(
    State(state): State<AppState>,
    Query(params): Query<VerifyParams>,
) -> Result<Json<VerifyReport>, ApiError> {
    Ok(Json(state.node.content().verify_repo(params.repair).await?))
}
