//! Local exposure: the node API and the status page answer only requests addressed to this
//! node by a local name, and browser requests only from a page of this node, as Kubo's API
//! does. This is what stops DNS rebinding (a foreign page whose name now points at 127.0.0.1)
//! and cross-site reads of deals, channels and balances.
//!
//! - `Host` must be a loopback name (`localhost`, `127.0.0.1`, `[::1]`), the address the API is
//!   bound to, or one of `[api] allowed_hosts` in config; any port. No `Host` (an HTTP/1.0
//!   tool) is let through: a browser always sends one.
//! - `Origin`, when present (browsers send it on cross-origin reads and on every write), must
//!   be `http(s)://` one of the same hosts; `null` and foreign origins are refused.
//!
//! Refusals are 403 with a JSON reason (`forbidden_host`, `forbidden_origin`).

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, AppState};

/// The host part of `authority` (`host[:port]`, `[v6][:port]`), lowercased.
fn host_of(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, _) = rest.split_once(']')?;
        format!("[{v6}]")
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_string(),
            Some(_) => return None,
            None => authority.to_string(),
        }
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn allowed(state: &AppState, host: &str) -> bool {
    const LOOPBACK: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "::1"];
    if LOOPBACK.contains(&host) {
        return true;
    }
    let bound = state
        .urls
        .get()
        .and_then(|u| u.api.strip_prefix("http://").and_then(host_of));
    if bound.as_deref() == Some(host) {
        return true;
    }
    let config = &state.node.config().api.allowed_hosts;
    config.iter().any(|h| h.eq_ignore_ascii_case(host))
}

fn forbidden(reason: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, reason, message)
}

pub async fn local_only(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    if let Some(value) = headers.get(header::HOST) {
        let text = value.to_str().unwrap_or("");
        match host_of(text) {
            Some(host) if allowed(&state, &host) => {}
            _ => {
                return Err(forbidden(
                    "forbidden_host",
                    format!(
                        "Host {text:?} is not this node's (loopback names and the bound address only; add it to [api] allowed_hosts to allow it)"
                    ),
                ))
            }
        }
    }
    if let Some(value) = headers.get(header::ORIGIN) {
        let text = value.to_str().unwrap_or("");
        let host = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
            .filter(|rest| !rest.contains('/'))
            .and_then(host_of);
        match host {
            Some(host) if allowed(&state, &host) => {}
            _ => {
                return Err(forbidden(
                    "forbidden_origin",
                    format!("requests from pages of {text:?} are refused: the API answers this node's own pages only"),
                ))
            }
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_is_found_with_or_without_a_port() {
        assert_eq!(host_of("127.0.0.1:5001").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("LocalHost").as_deref(), Some("localhost"));
        assert_eq!(host_of("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host_of("evil.example:80").as_deref(), Some("evil.example"));
        assert_eq!(host_of("a:b:c"), None);
        assert_eq!(host_of("[::1"), None);
        assert_eq!(host_of(""), None);
    }
}
