//! The node API for the repository as a whole: `POST /repo/verify[?repair=true]`.

use axum::extract::{Query, State};
use axum::middleware::from_fn_with_state;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::{auth::require_token, ApiError, AppState};
use crate::node::VerifyReport;

pub fn routes(state: AppState) -> Router<AppState> {
    // A full pass reads every block, and a repair deletes and fetches: the token's to ask.
    Router::new()
        .route("/repo/verify", post(verify))
        .layer(from_fn_with_state(state, require_token::<ApiError>))
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
