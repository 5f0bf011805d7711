//! The path gateway and the trustless gateway at `/ipfs/<cid>[/<path>]`.
//!
//! Trustless responses (`application/vnd.ipld.raw`, `application/vnd.ipld.car`, chosen by
//! `Accept` or `?format=`) carry verifiable bytes; the path gateway deserializes UnixFS:
//! a file's bytes, a directory's `index.html`, or an HTML listing. Paths are resolved through
//! the DAG, never the filesystem; `.` and `..` segments are refused.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cid::Cid;
use futures::TryStreamExt;
use serde::Deserialize;

use super::dag::{car_response, raw_response, resolve};
use super::{ApiError, AppState};
use crate::content::exporter;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ipfs/{*path}", get(ipfs))
}

#[derive(Debug, Default, Deserialize)]
struct GatewayParams {
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Raw,
    Car,
    Unixfs,
}

fn negotiate(params: &GatewayParams, headers: &HeaderMap) -> Result<Format, ApiError> {
    match params.format.as_deref() {
        Some("raw") => return Ok(Format::Raw),
        Some("car") => return Ok(Format::Car),
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_format",
                format!("unsupported format {other:?} (use raw or car)"),
            ))
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(if accept.contains("application/vnd.ipld.raw") {
        Format::Raw
    } else if accept.contains("application/vnd.ipld.car") {
        Format::Car
    } else {
        Format::Unixfs
    })
}

async fn ipfs(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(params): Query<GatewayParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.metrics.gateway_requests.inc();
    let format = negotiate(&params, &headers)?;
    let cid = resolve(&state, &path).await?;
    let mut response = match format {
        Format::Raw => raw_response(&state, cid).await?,
        Format::Car => car_response(&state, cid).await?,
        Format::Unixfs => unixfs_response(&state, cid, &path).await?,
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{cid}\"")) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=29030400, immutable"),
    );
    if let Ok(roots) = HeaderValue::from_str(&cid.to_string()) {
        headers.insert("x-ipfs-roots", roots);
    }
    Ok(response)
}

async fn unixfs_response(state: &AppState, cid: Cid, path: &str) -> Result<Response, ApiError> {
    let blocks = state.node.content().blocks();
    let entry = exporter::stat(&blocks, &cid).await?;
    if !entry.is_dir() {
        return Ok(file_response(state, cid, entry.size(), path));
    }
    let entries = exporter::list_dir(&blocks, &cid).await?;
    if let Some(index) = entries.iter().find(|e| e.name == "index.html") {
        let size = exporter::stat(&blocks, &index.cid).await?.size();
        return Ok(file_response(state, index.cid, size, "index.html"));
    }
    let base = format!("/ipfs/{}", path.trim_end_matches('/'));
    let mut html = format!(
        "<!doctype html><meta charset=utf-8><title>{0}</title><h1>Index of {0}</h1><ul>",
        escape(&base)
    );
    for e in &entries {
        let href = format!("{base}/{}", percent_encode(&e.name));
        html.push_str(&format!(
            "<li><a href=\"{}\">{}</a> <small>{} bytes</small></li>",
            escape(&href),
            escape(&e.name),
            e.size
        ));
    }
    html.push_str("</ul>");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

fn file_response(state: &AppState, cid: Cid, size: u64, path: &str) -> Response {
    let stream = exporter::cat(state.node.content().blocks(), cid).map_err(std::io::Error::other);
    let headers = [
        (header::CONTENT_TYPE, content_type(path).to_string()),
        (header::CONTENT_LENGTH, size.to_string()),
    ];
    (headers, Body::from_stream(stream)).into_response()
}

/// The media type a file name's extension implies.
fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
