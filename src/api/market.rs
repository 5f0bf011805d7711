//! The node API for the market: this node's ask, the asks of providers found (with their
//! scores on request), and deals.

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{auth::require_token, types, views, ApiError, AppState};

pub fn routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/provider/ask", post(set_ask))
        .layer(from_fn_with_state(state, require_token::<ApiError>));
    Router::new()
        .route("/provider/ask", get(show_ask))
        .route("/providers", get(providers))
        .merge(writes)
}

async fn set_ask(
    State(state): State<AppState>,
    Json(terms): Json<types::AskTerms>,
) -> Result<Json<types::Ask>, ApiError> {
    let ask = state.node.provider().set_ask_terms(&terms.into()).await?;
    Ok(Json(views::ask(
        state.node.peer_id().to_string(),
        &ask.payload,
    )))
}

async fn show_ask(State(state): State<AppState>) -> Result<Json<types::Ask>, ApiError> {
    match state.node.provider().signed_ask().await? {
        Some(ask) => Ok(Json(views::ask(
            state.node.peer_id().to_string(),
            &ask.payload,
        ))),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_ask",
            "no ask set: `cairn provider ask set ...`",
        )),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvidersParams {
    /// Adds each provider's score from this node's proof history, with its explanation.
    #[serde(default)]
    scores: bool,
}

/// Providers with valid asks (`Node::discover_providers`), cheapest first; with
/// `?scores=true`, each with its score.
async fn providers(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<ProvidersParams>,
) -> Result<Json<types::Providers>, ApiError> {
    let found = state
        .node
        .keeps()
        .discover_providers()
        .await
        .map_err(|e| match e {
            crate::net::NetError::Stopped => ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "offline",
                "the network is not running",
            ),
            e => ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "network",
                e.to_string(),
            ),
        })?;
    let mut providers = Vec::new();
    for provider in &found {
        let peer = provider.peer.to_string();
        let score = match params.scores {
            true => Some(state.node.keeps().provider_score(&peer).await?.into()),
            false => None,
        };
        providers.push(types::ProviderAsk {
            ask: views::ask(peer, &provider.ask.payload),
            latency_ms: provider.latency_ms,
            score,
        });
    }
    Ok(Json(types::Providers { providers }))
}

pub fn deal_routes(state: AppState) -> Router<AppState> {
    let writes = Router::new()
        .route("/deals", post(make_deal))
        .layer(from_fn_with_state(state, require_token::<ApiError>));
    Router::new()
        .route("/deals", get(list_deals))
        .route("/deals/{id}", get(show_deal))
        .merge(writes)
}

async fn make_deal(
    State(state): State<AppState>,
    Json(request): Json<types::DealRequest>,
) -> Result<Json<types::Deal>, ApiError> {
    let row = state.node.deals().make_deal(&request.into()).await?;
    deal_view(&state, row).await.map(Json)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    role: Option<String>,
}

async fn list_deals(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<ListParams>,
) -> Result<Json<types::Deals>, ApiError> {
    let role = params.role.unwrap_or_else(|| "client".into());
    if role != "client" && role != "provider" {
        return Err(ApiError::bad_request(
            "bad_role",
            "role is client or provider",
        ));
    }
    let rows = state
        .node
        .db()
        .list_deals(&role, None)
        .await
        .map_err(crate::node::NodeError::from)?;
    let mut deals = Vec::new();
    for row in rows {
        deals.push(deal_view(&state, row).await?);
    }
    Ok(Json(types::Deals { deals }))
}

async fn show_deal(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<types::Deal>, ApiError> {
    let row = state
        .node
        .db()
        .get_deal(&id)
        .await
        .map_err(crate::node::NodeError::from)?;
    let row = row.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_deal",
            format!("no deal {id}"),
        )
    })?;
    deal_view(&state, row).await.map(Json)
}

/// Challenges listed with a deal, newest last.
const RECENT_CHALLENGES: usize = 100;

/// A deal with its history, proof record and what it was paid.
async fn deal_view(state: &AppState, row: crate::db::DealRow) -> Result<types::Deal, ApiError> {
    let db = &state.node.db();
    let events = db
        .deal_events(&row.id)
        .await
        .map_err(crate::node::NodeError::from)?;
    let role = if row.role == "client" {
        "verifier"
    } else {
        "prover"
    };
    let mut challenges: Vec<_> = db
        .challenges_for(&row.piece_root)
        .await
        .map_err(crate::node::NodeError::from)?
        .into_iter()
        .filter(|c| c.role == role && c.peer == row.peer)
        .collect();
    let passed = challenges
        .iter()
        .filter(|c| c.outcome == "passed" || c.outcome == "answered")
        .count();
    let paid = match crate::node::decode_proposal(&row) {
        Some(proposal) => state.node.pay().deal_paid(&row, &proposal.payload).await?,
        None => 0,
    };
    // The counts cover every challenge; the list only the latest, so a long deal with a
    // short period does not make every listing heavier.
    let total = challenges.len();
    let recent = challenges.split_off(total.saturating_sub(RECENT_CHALLENGES));
    Ok(types::Deal {
        id: row.id,
        role: row.role,
        peer: row.peer,
        root: row.root_cid,
        piece_root: row.piece_root,
        piece_size: row.piece_size,
        state: row.state,
        created_at: row.created_at,
        updated_at: row.updated_at,
        proofs_passed: passed as u64,
        proofs_failed: (total - passed) as u64,
        paid,
        events: events.into_iter().map(Into::into).collect(),
        challenges: recent.into_iter().map(Into::into).collect(),
        challenges_total: total as u64,
    })
}
