//! The status page at `/`, and `GET /api/v1/status`, the figures it needs that no other
//! endpoint gives.
//!
//! The page is one HTML file, one script and one stylesheet (`status/`), embedded in the
//! binary and served by the node itself: no CDN, no build step. The script polls the node's
//! read-only JSON endpoints (id, peers, pins, deals, keeps, payments, status), which need no
//! token, so neither does the page; a section whose endpoint fails says "unavailable" and the
//! others carry on. Every figure on the page carries its raw value in a `data-value`
//! attribute, so tests read what the page shows.
//!
//! The assets are served with `Cache-Control: no-cache`, so an upgraded node's page replaces
//! the old one at once, and a content security policy that allows this origin only, so the
//! page cannot load or send anything elsewhere.

mod history;

use super::types::{Capacity, ProofTotals, Status, Storage};
use super::{ApiError, AppState};
use crate::node::NodeError;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

const INDEX_HTML: &str = include_str!("status/status.html");
const STATUS_JS: &str = include_str!("status/status.js");
const STATUS_CSS: &str = include_str!("status/status.css");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Same origin only; `data:` images for the empty favicon.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/`, `/status.js`, `/status.css`: static, so they work with any router state.
pub fn page_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset(HTML, INDEX_HTML) }))
        .route("/status.js", get(|| async { asset(JAVASCRIPT, STATUS_JS) }))
        .route("/status.css", get(|| async { asset(CSS, STATUS_CSS) }))
}

/// `/status`, to be nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/status/history", get(history::history))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        body,
    )
}

async fn status(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let node = &state.node;
    let blocks = node.db().block_count().await.map_err(NodeError::from)?;
    let provider = match node.provider().ask_terms().await? {
        Some(terms) => {
            let reserved = node
                .db()
                .reserved_capacity()
                .await
                .map_err(NodeError::from)?;
            Some(Capacity {
                offered: terms.capacity,
                reserved,
                free: terms.capacity.saturating_sub(reserved),
            })
        }
        None => None,
    };
    Ok(Json(Status {
        storage: Storage {
            stored_bytes: node.content().store().used_bytes(),
            blocks,
            quota_bytes: node.content().store().quota(),
        },
        provider,
        proofs: proof_totals(&state).await?,
    }))
}

/// Challenges by outcome from the database's own count (the deals API lists at most 100 per
/// deal, so counting its rows would freeze there).
async fn proof_totals(state: &AppState) -> Result<ProofTotals, ApiError> {
    let counts = state
        .node
        .db()
        .challenge_counts()
        .await
        .map_err(NodeError::from)?;
    let mut totals = ProofTotals::default();
    for (_role, outcome, n) in counts {
        match outcome.as_str() {
            "passed" | "answered" => totals.passed += n,
            "pending" => {}
            _ => totals.failed += n,
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = page_routes::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn page_and_assets_are_served_with_their_types_and_no_cache() {
        for (path, content_type, marker) in [
            ("/", HTML, "<!doctype html>"),
            ("/status.js", JAVASCRIPT, "\"use strict\";"),
            ("/status.css", CSS, ":root"),
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert!(
                headers[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .starts_with("default-src 'self'"),
                "{path}"
            );
            assert!(body.contains(marker), "{path} serves its file");
        }
        let (status, _, _) = get("/status.txt").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    /// The page loads nothing from elsewhere: its only URLs are its own assets and the node's
    /// API (the SVG namespace is a name, not a request).
    #[test]
    fn page_refers_to_this_node_only() {
        let js = STATUS_JS.replace("\"http://www.w3.org/2000/svg\"", "");
        for (name, text) in [
            ("html", INDEX_HTML),
            ("js", js.as_str()),
            ("css", STATUS_CSS),
        ] {
            assert!(!text.contains("://"), "{name} names another origin");
            assert!(!text.contains("@import"), "{name} imports a stylesheet");
        }
        assert!(INDEX_HTML.contains(r#"<script src="/status.js" defer></script>"#));
        assert!(INDEX_HTML.contains(r#"<link rel="stylesheet" href="/status.css">"#));
        for fetched in STATUS_JS.split("getJson(\"").skip(1) {
            assert!(fetched.starts_with("/api/v1/"), "fetches {fetched:.40}");
        }
    }
}
