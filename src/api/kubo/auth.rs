//! The token check of the Kubo RPC API's write calls.
//!
//! A write call passes with the node's API token in either of the forms Kubo's
//! `API.Authorizations` clients send:
//! - `Authorization: Bearer <token>`, checked by [`crate::api::auth::check`] exactly as on
//!   `/api/v1` (nothing trimmed, constant-time comparison);
//! - `Authorization: Basic base64(<user>:<token>)`: any user name, the token as the
//!   password (Kubo's `basic:user:password` secrets), also compared in constant time.
//!
//! A refusal is Kubo's: `403` with a plain-text body beginning `403 - Forbidden` (Kubo's
//! `withAuthSecrets` answers so; `/api/v1` answers 401 with `WWW-Authenticate`).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::KuboError;
use crate::api::auth::{check, Refusal, Refuse};
use crate::api::AppState;

/// Whether `headers` carry this node's token as Bearer or Basic credentials.
pub fn authorized(
    headers: &HeaderMap,
    token: &str,
    bearer: &crate::api::auth::ApiToken,
) -> Result<(), Refusal> {
    match check(headers, bearer) {
        Ok(()) => return Ok(()),
        Err(Refusal::Wrong) => return Err(Refusal::Wrong),
        Err(Refusal::Missing) => {}
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Missing);
    };
    let bytes = value.as_bytes();
    let scheme = b"basic ";
    if bytes.len() < scheme.len() || !bytes[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return Err(Refusal::Missing);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&bytes[scheme.len()..])
        .map_err(|_| Refusal::Wrong)?;
    let password = match decoded.iter().position(|&b| b == b':') {
        Some(colon) => &decoded[colon + 1..],
        None => &decoded[..],
    };
    match bool::from(password.ct_eq(token.as_bytes())) {
        true => Ok(()),
        false => Err(Refusal::Wrong),
    }
}

/// The middleware in front of every write command.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match authorized(request.headers(), state.node.api_token(), &state.token) {
        Ok(()) => next.run(request).await,
        Err(why) => KuboError::refuse(why).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::api::auth::ApiToken;

    const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn bearer_and_basic_with_the_token_pass() {
        let bearer = ApiToken::new(TOKEN);
        for value in [
            format!("Bearer {TOKEN}"),
            basic(&format!("alice:{TOKEN}")),
            basic(&format!(":{TOKEN}")),
            basic(TOKEN),
            basic(&format!("user:{TOKEN}")).replace("Basic", "basic"),
        ] {
            assert_eq!(authorized(&with(&value), TOKEN, &bearer), Ok(()), "{value}");
        }
    }

    #[test]
    fn anything_else_is_refused_and_says_whether_it_was_missing_or_wrong() {
        let bearer = ApiToken::new(TOKEN);
        assert_eq!(
            authorized(&HeaderMap::new(), TOKEN, &bearer),
            Err(Refusal::Missing)
        );
        assert_eq!(
            authorized(&with("Digest abc"), TOKEN, &bearer),
            Err(Refusal::Missing)
        );
        for value in [
            "Bearer guess".to_string(),
            basic("alice:guess"),
            basic(&format!("alice:{TOKEN} ")),
            basic(&format!("{TOKEN}:alice")),
            "Basic !!!not-base64".to_string(),
        ] {
            assert_eq!(
                authorized(&with(&value), TOKEN, &bearer),
                Err(Refusal::Wrong),
                "{value}"
            );
        }
    }
}
