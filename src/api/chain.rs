//! The node API for settlement on chain: the wallet, claims (payee) and withdrawals (payer).
//! The payer's close is `POST /pay/channels/{id}/close`, which starts it on chain for an
//! escrowed channel. `{id}` is the channel's CID or the contract's channel id.

use axum::extract::{Path, State};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{auth::require_token, ApiError, AppState};
use crate::node::{ClaimOutcome, WalletView, Withdrawal};

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/pay/channels/{id}/claim", post(claim))
        .route("/pay/channels/{id}/withdraw", post(withdraw))
        .layer(from_fn_with_state(state, require_token::<ApiError>));
    Router::new().route("/wallet", get(wallet)).merge(writes)
}

async fn wallet(State(state): State<AppState>) -> Result<Json<WalletView>, ApiError> {
    Ok(Json(state.node.pay().wallet_view().await?))
}

async fn claim(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClaimOutcome>, ApiError> {
    Ok(Json(state.node.pay().claim(&id).await?))
}

async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Withdrawal>, ApiError> {
    Ok(Json(state.node.pay().withdraw(&id).await?))
}
