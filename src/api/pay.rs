//! The node API for payments: channels (open, list, show, close), their receipts, and
//! balances per peer.

use axum::extract::{Path, Query, State};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use libp2p::PeerId;

use super::{auth::require_token, types, ApiError, AppState};
use crate::db::ChannelRow;
use crate::node::{NodeError, Refusal};

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/pay/channels", post(open_channel))
        .route("/pay/channels/{id}/close", post(close_channel))
        .layer(from_fn_with_state(state, require_token::<ApiError>));
    Router::new()
        .route("/pay/channels", get(list_channels))
        .route("/pay/channels/{id}", get(show_channel))
        .route("/pay/channels/{id}/receipts", get(receipts))
        .route("/pay/balance", get(balance))
        .merge(writes)
}

/// Payment calls map their errors like every other call (`api::error`).
fn pay_error(e: NodeError) -> ApiError {
    e.into()
}

async fn open_channel(
    State(state): State<AppState>,
    Json(request): Json<types::OpenChannel>,
) -> Result<Json<types::Channel>, ApiError> {
    let peer: PeerId = request.peer.parse().map_err(|_| {
        ApiError::bad_request(
            "malformed_peer",
            format!("{:?} is not a peer id", request.peer),
        )
    })?;
    let row = state
        .node
        .pay()
        .open_channel(peer, request.deposit)
        .await
        .map_err(pay_error)?;
    Ok(Json(view(&state, &row).await?))
}

async fn close_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<types::Channel>, ApiError> {
    let row = state
        .node
        .pay()
        .close_channel(&id)
        .await
        .map_err(pay_error)?;
    Ok(Json(view(&state, &row).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    role: Option<String>,
    peer: Option<String>,
}

async fn list_channels(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<types::Channels>, ApiError> {
    if let Some(role) = params
        .role
        .as_deref()
        .filter(|r| *r != "payer" && *r != "payee")
    {
        return Err(ApiError::bad_request(
            "bad_role",
            format!("role is payer or payee, not {role:?}"),
        ));
    }
    let rows = state
        .node
        .db()
        .list_channels(params.role.as_deref(), params.peer.as_deref())
        .await
        .map_err(NodeError::from)?;
    let mut channels = Vec::with_capacity(rows.len());
    for row in &rows {
        channels.push(view(&state, row).await?);
    }
    Ok(Json(types::Channels { channels }))
}

async fn channel_row(state: &AppState, id: &str) -> Result<ChannelRow, ApiError> {
    state
        .node
        .db()
        .get_channel(id)
        .await
        .map_err(NodeError::from)?
        .ok_or_else(|| {
            NodeError::refuse(Refusal::UnknownChannel, format!("no channel {id}")).into()
        })
}

async fn show_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<types::Channel>, ApiError> {
    let row = channel_row(&state, &id).await?;
    Ok(Json(view(&state, &row).await?))
}

/// The channel's signed open and every receipt in its history, as signed bytes (hex), so a
/// client can export them and anyone can verify them.
async fn receipts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<types::Receipts>, ApiError> {
    let row = channel_row(&state, &id).await?;
    let receipts = state
        .node
        .db()
        .receipts(&id)
        .await
        .map_err(NodeError::from)?;
    Ok(Json(types::Receipts {
        channel: row.id,
        open: row.open_signed,
        close: row.close_signed,
        receipts: receipts.into_iter().map(Into::into).collect(),
    }))
}

async fn balance(State(state): State<AppState>) -> Result<Json<types::Balances>, ApiError> {
    let balances = state.node.pay().balances().await.map_err(pay_error)?;
    Ok(Json(types::Balances {
        peers: balances.into_iter().map(Into::into).collect(),
    }))
}

/// A channel as the API shows it: `pending` is what is owed on it and not yet covered by a
/// receipt (retrieval invoiced beyond what was paid).
async fn view(state: &AppState, row: &ChannelRow) -> Result<types::Channel, ApiError> {
    let role = if row.role == "payer" {
        "payer"
    } else {
        "payee"
    };
    let account = state
        .node
        .db()
        .retrieval_account(&row.peer, role)
        .await
        .map_err(NodeError::from)?;
    let pending = if row.is_usable() {
        account.invoiced.saturating_sub(account.paid)
    } else {
        0
    };
    Ok(types::Channel {
        id: row.id.clone(),
        role: row.role.clone(),
        peer: row.peer.clone(),
        deposit: row.deposit,
        paid: row.paid,
        remaining: row.deposit.saturating_sub(row.paid),
        pending,
        seq: row.seq,
        state: row.status().to_string(),
        settled: row.settled,
        closes_at: row.closes_at,
        refund: row.refund,
        created_at: row.created_at,
        updated_at: row.updated_at,
        onchain: crate::node::binding_of(row)
            .map_err(ApiError::from)?
            .map(|b| types::OnChainChannel {
                chain_id: b.chain_id,
                contract: b.domain().contract.to_checksum(None),
                channel_id: b.channel_id().to_string(),
                payer: b.payer_address().to_checksum(None),
                payee: b.payee_address().to_checksum(None),
            }),
    })
}
