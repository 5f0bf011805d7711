//! The bearer-token check of write calls, one middleware for the node API and the Pinning
//! Service API; each renders the refusal in its own error body ([`Refuse`]).
//!
//! Invariants:
//! - A call passes only with `Authorization: Bearer <token>` where `<token>` is exactly the
//!   data dir's `api.token`: nothing is trimmed, so a token with an extra space, tab or any
//!   other byte is refused. The scheme name is case-insensitive (RFC 9110 §11.1).
//! - The token is compared with `subtle`'s constant-time equality, so the time a refusal
//!   takes says nothing about how much of a guess was right.
//! - A refusal is `401` with `WWW-Authenticate: Bearer` (RFC 6750 §3), and says whether the
//!   token was missing or wrong, never what it should have been.

use std::sync::Arc;

use axum::extract::{FromRef, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

/// The token write calls must present.
#[derive(Clone)]
pub struct ApiToken(Arc<str>);

impl ApiToken {
    pub fn new(token: &str) -> Self {
        ApiToken(Arc::from(token))
    }
}

/// Never printed: a debug log of the state must not leak the token.
impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl FromRef<AppState> for ApiToken {
    fn from_ref(state: &AppState) -> Self {
        state.token.clone()
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer ...` header.
    Missing,
    /// A bearer token, but not this node's.
    Wrong,
}

/// How an API renders a refusal (its status is always 401).
pub trait Refuse: IntoResponse {
    fn refuse(why: Refusal) -> Self;
}

/// Checks the request's bearer token against `expected`.
pub fn check(headers: &HeaderMap, expected: &ApiToken) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Missing);
    };
    let bytes = value.as_bytes();
    let scheme = b"bearer ";
    let is_bearer =
        bytes.len() >= scheme.len() && bytes[..scheme.len()].eq_ignore_ascii_case(scheme);
    if !is_bearer {
        return Err(Refusal::Missing);
    }
    let presented = &bytes[scheme.len()..];
    match bool::from(presented.ct_eq(expected.0.as_bytes())) {
        true => Ok(()),
        false => Err(Refusal::Wrong),
    }
}

/// The middleware: `from_fn_with_state(state, require_token::<ApiError>)`.
pub async fn require_token<R: Refuse>(
    State(token): State<ApiToken>,
    request: Request,
    next: Next,
) -> Response {
    match check(request.headers(), &token) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            let mut response = R::refuse(why).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::middleware::from_fn_with_state;
    use axum::routing::post;
    use axum::Router;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;
    use crate::api::pinning::PinError;
    use crate::api::ApiError;

    const TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    async fn call<R: Refuse + 'static>(authorization: Option<&[u8]>) -> (StatusCode, Value) {
        let router = Router::new()
            .route("/write", post(|| async { "done" }))
            .layer(from_fn_with_state(ApiToken::new(TOKEN), require_token::<R>));
        let mut request = axum::http::Request::post("/write");
        if let Some(value) = authorization {
            request = request.header(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let response = router
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
        (status, body)
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[tokio::test]
    async fn the_exact_token_passes_with_any_case_of_the_scheme() {
        for value in [
            bearer(TOKEN),
            format!("bearer {TOKEN}").into_bytes(),
            format!("BEARER {TOKEN}").into_bytes(),
        ] {
            let (status, body) = call::<ApiError>(Some(&value)).await;
            assert_eq!((status, body), (StatusCode::OK, json!("done")));
        }
    }

    #[tokio::test]
    async fn a_token_that_differs_by_whitespace_or_any_byte_is_wrong() {
        let near = [
            format!("{TOKEN} "),
            format!(" {TOKEN}"),
            format!("{TOKEN}\t"),
            format!("{TOKEN}0"),
            TOKEN[..63].to_string(),
            TOKEN.to_uppercase(),
            format!("{}0", &TOKEN[..63]),
            String::new(),
        ];
        for token in near {
            let (status, body) = call::<ApiError>(Some(&bearer(&token))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
            assert_eq!(body["error"], "bad_token", "{token:?}");
        }
        let opaque = [b"Bearer ".as_slice(), &[0xff, 0xfe]].concat();
        let (status, body) = call::<ApiError>(Some(&opaque)).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::UNAUTHORIZED, &json!("bad_token"))
        );
    }

    #[tokio::test]
    async fn no_bearer_token_is_missing() {
        let basic = format!("Basic {TOKEN}");
        for value in [
            None,
            Some(TOKEN.as_bytes()),
            Some(basic.as_bytes()),
            Some(b"Bearer".as_slice()),
        ] {
            let (status, body) = call::<ApiError>(value).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body["error"], "missing_token");
            assert!(body["message"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer"));
        }
    }

    #[tokio::test]
    async fn each_api_renders_the_refusal_in_its_own_error_body() {
        let (_, body) = call::<ApiError>(Some(&bearer("guess"))).await;
        assert_eq!(
            body,
            json!({"error": "bad_token", "message": "the API token is wrong"})
        );
        let (status, body) = call::<PinError>(Some(&bearer("guess"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"error": {"reason": "UNAUTHORIZED", "details": "the access token is invalid"}})
        );
        let (_, body) = call::<PinError>(None).await;
        assert_eq!(body["error"]["reason"], "UNAUTHORIZED");
        assert!(body["error"]["details"]
            .as_str()
            .unwrap()
            .contains("missing"));
        let (status, _) = call::<PinError>(Some(&bearer(TOKEN))).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", ApiToken::new(TOKEN)), "ApiToken(..)");
    }
}
