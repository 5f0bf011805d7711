//! What the node API and the gateway share: resolving `<cid>[/<path>]` through the DAG, and
//! answering with a raw block or a CAR.
//!
//! Paths are resolved through UnixFS directories, never the filesystem; `.`, `..` and empty
//! segments are refused. A CAR response streams, and a failure after its first byte aborts
//! the body, so a client never mistakes a cut-off CAR for a whole one.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cid::Cid;
use futures::{StreamExt, TryStreamExt};

use super::{ApiError, AppState};
use crate::content::{exporter, parse_cid, BlockGet};

/// Splits `<cid>[/<path>]` and resolves it to the CID it names.
pub(super) async fn resolve(state: &AppState, path: &str) -> Result<Cid, ApiError> {
    let (root, rest) = path.split_once('/').unwrap_or((path, ""));
    let root = parse_cid(root)?;
    // A kept CID whose local copy is gone is rebuilt from its erasure-coded slots first.
    state.node.keeps().restore_if_missing(&root).await?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Ok(root);
    }
    if rest
        .split('/')
        .any(|s| s == ".." || s == "." || s.is_empty())
    {
        return Err(ApiError::bad_request(
            "bad_path",
            format!("invalid path {rest:?}: `.`, `..` and empty segments are not allowed"),
        ));
    }
    Ok(exporter::resolve_path(&state.node.content().blocks(), &root, rest).await?)
}

pub(super) async fn raw_response(state: &AppState, cid: Cid) -> Result<Response, ApiError> {
    let data = state.node.content().blocks().get_block(&cid).await?;
    Ok(([(header::CONTENT_TYPE, "application/vnd.ipld.raw")], data).into_response())
}

/// Streams the DAG under `cid` as a CARv1. A failure after the first byte aborts the body,
/// so a client never mistakes a cut-off CAR for a whole one.
pub(super) async fn car_response(state: &AppState, cid: Cid) -> Result<Response, ApiError> {
    // Fails with a clean 404 before any byte is sent if the root cannot be had.
    state.node.content().blocks().get_block(&cid).await?;
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    let node = state.node.clone();
    let export = state
        .node
        .parts()
        .tasks
        .spawn_joinable(async move { node.content().car_export(&cid, writer).await });
    let tail = futures::stream::once(async move {
        match export.await {
            Ok(Some(Ok(()))) => Ok(None),
            Ok(Some(Err(e))) => Err(std::io::Error::other(e.to_string())),
            Ok(None) => Err(std::io::Error::other("the node is stopping")),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    });
    let body = tokio_util::io::ReaderStream::new(reader)
        .map_ok(Some)
        .chain(tail)
        .try_filter_map(|chunk: Option<Bytes>| async move { Ok(chunk) });
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.ipld.car; version=1")],
        Body::from_stream(body),
    )
        .into_response())
}
