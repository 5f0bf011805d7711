//! The trustless gateway's response formats (shared/specs/ipfs/trustless-gateway.md):
//! negotiation of raw blocks and CARs from `?format=`, `Accept` and the CAR parameters
//! (`version`, `order`, `dups`, also as `car-version`, `car-order`, `car-dups`), and the
//! CAR that proves a path: header root = the requested root, then the blocks read to
//! resolve the path, then the entity as `dag-scope` and `entity-bytes` select it.
//!
//! Invariants: a CAR's `Content-Type` always states `version=1; order=dfs` and the `dups`
//! it was written with; every CAR and raw response has `Content-Disposition: attachment`
//! and `X-Content-Type-Options: nosniff`; a request for a variant this gateway cannot
//! write (another CAR version or order) is refused with 406 before any byte is sent.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cid::Cid;
use futures::{StreamExt, TryStreamExt};

use super::{ApiError, AppState};
use crate::content::car::CarWriter;
use crate::content::selector::{
    self, ByteRange, Resolved, Scope, Selection, SelectiveWalker, Traced, IDENTITY,
};
use crate::content::{unixfs, BlockGet, DAG_PB, RAW};

/// The response format a gateway request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Format {
    Raw,
    Car { dups: bool },
    Unixfs,
}

/// The query parameters the gateway reads.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct GatewayParams {
    pub format: Option<String>,
    pub dag_scope: Option<String>,
    pub entity_bytes: Option<String>,
    pub car_version: Option<String>,
    pub car_order: Option<String>,
    pub car_dups: Option<String>,
    pub filename: Option<String>,
}

const RAW_TYPE: &str = "application/vnd.ipld.raw";
const CAR_TYPE: &str = "application/vnd.ipld.car";

/// Picks the format: `?format=` first, then `Accept` (first acceptable entry).
pub(super) fn negotiate(params: &GatewayParams, headers: &HeaderMap) -> Result<Format, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let car_entries: Vec<Vec<(String, String)>> = accept
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next()?.to_ascii_lowercase();
            (media == CAR_TYPE).then(|| {
                parts
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect()
            })
        })
        .collect();
    let wants_raw = accept
        .split(',')
        .any(|e| e.split(';').next().map(str::trim) == Some(RAW_TYPE));
    match params.format.as_deref() {
        Some("raw") => return Ok(Format::Raw),
        Some("car") => return car_format(params, &car_entries),
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_format",
                format!("unsupported format {other:?} (use raw or car)"),
            ))
        }
        None => {}
    }
    if !car_entries.is_empty() && (!wants_raw || accept.find(CAR_TYPE) < accept.find(RAW_TYPE)) {
        return car_format(params, &car_entries);
    }
    if wants_raw {
        return Ok(Format::Raw);
    }
    Ok(Format::Unixfs)
}

/// The CAR variant: query parameters win over `Accept`; among `Accept` entries the first
/// this gateway can write.
fn car_format(
    params: &GatewayParams,
    entries: &[Vec<(String, String)>],
) -> Result<Format, ApiError> {
    let no_params = Vec::new();
    let candidates: Vec<&Vec<(String, String)>> = if entries.is_empty() {
        vec![&no_params]
    } else {
        entries.iter().collect()
    };
    let mut refusal = None;
    for entry in candidates {
        let get = |key: &str| {
            entry
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let version = params.car_version.as_deref().or(get("version"));
        let order = params.car_order.as_deref().or(get("order"));
        let dups = params.car_dups.as_deref().or(get("dups"));
        match check_car(version, order, dups) {
            Ok(dups) => return Ok(Format::Car { dups }),
            Err(e) if e.status == StatusCode::BAD_REQUEST => return Err(e),
            Err(e) => refusal = Some(e),
        }
    }
    Err(refusal.unwrap_or_else(|| not_acceptable("no acceptable CAR variant")))
}

fn not_acceptable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", message)
}

/// Checks one requested CAR variant; returns whether duplicates are to be sent.
fn check_car(
    version: Option<&str>,
    order: Option<&str>,
    dups: Option<&str>,
) -> Result<bool, ApiError> {
    if let Some(v) = version.filter(|v| *v != "1") {
        return Err(not_acceptable(format!(
            "CAR version {v:?} is not available (only version=1)"
        )));
    }
    if let Some(o) = order.filter(|o| !matches!(*o, "dfs" | "unk" | "")) {
        return Err(not_acceptable(format!(
            "CAR order {o:?} is not available (dfs, or unk)"
        )));
    }
    match dups {
        None | Some("n") => Ok(false),
        Some("y") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "bad_dups",
            format!("invalid dups {other:?} (use y or n)"),
        )),
    }
}

/// Splits `<cid>[/<path>]`: the root (identity CIDs accepted) and its segments, refusing
/// `.`, `..` and empty segments.
pub(super) fn split_path(path: &str) -> Result<(Cid, Vec<&str>), ApiError> {
    let (root, rest) = path.split_once('/').unwrap_or((path, ""));
    let root = selector::parse_cid_or_identity(root)?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Ok((root, Vec::new()));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments
        .iter()
        .any(|s| *s == ".." || *s == "." || s.is_empty())
    {
        return Err(ApiError::bad_request(
            "bad_path",
            format!("invalid path {rest:?}: `.`, `..` and empty segments are not allowed"),
        ));
    }
    Ok((root, segments))
}

/// `Content-Disposition: attachment` with `filename` (ASCII, quoted) and `filename*`
/// (UTF-8, percent-encoded) when the name is not plain ASCII.
pub(super) fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("attachment; filename=\"{ascii}\"");
    if ascii != name {
        let encoded: String = name
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        value.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

fn binary_headers(response: &mut Response, filename: &str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_DISPOSITION, attachment(filename));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The terminal block as `application/vnd.ipld.raw` (identity CIDs answered from the CID).
pub(super) async fn raw<G: BlockGet>(
    blocks: &G,
    cid: Cid,
    filename: Option<&str>,
) -> Result<Response, ApiError> {
    let data = selector::fetch(blocks, &cid).await?;
    let mut response = ([(header::CONTENT_TYPE, RAW_TYPE)], data).into_response();
    binary_headers(&mut response, filename.unwrap_or(&format!("{cid}.bin")));
    Ok(response)
}

/// What a CAR request selected, for the response and its `Etag`.
#[derive(Debug, Clone)]
pub(super) struct CarPlan {
    pub root: Cid,
    pub path: Vec<Cid>,
    pub terminal: Cid,
    pub selection: Selection,
    /// The `entity-bytes` as asked, for the `Etag`.
    pub range: Option<ByteRange>,
}

impl CarPlan {
    pub fn etag(&self) -> String {
        let scope = self.selection.scope;
        let dups = if self.selection.dups { "y" } else { "n" };
        let range = self.range.map(|r| format!(".{r}")).unwrap_or_default();
        format!("\"{}.car.{scope}{range}.dfs.{dups}\"", self.terminal)
    }
}

/// The selection for a resolved path (`traced` holds the blocks that prove it).
pub(super) async fn plan<G: BlockGet>(
    blocks: &G,
    root: Cid,
    traced: &Traced,
    params: &GatewayParams,
    dups: bool,
) -> Result<CarPlan, ApiError> {
    let mut scope = match params.dag_scope.as_deref() {
        Some(scope) => scope.parse::<Scope>()?,
        None => Scope::All,
    };
    let range = match params.entity_bytes.as_deref() {
        Some(text) => Some(text.parse::<ByteRange>()?),
        None => None,
    };
    // The path was resolved before any byte: a missing root is a 404, not a cut CAR.
    let (path, terminal) = (traced.path.clone(), traced.terminal);
    let mut bytes = None;
    if let Some(range) = range {
        scope = Scope::Entity;
        if let Some(size) = file_size(blocks, &terminal).await? {
            match range.resolve(size) {
                Resolved::Bytes { first, last } => bytes = Some((first, last)),
                Resolved::Empty => scope = Scope::Block,
                Resolved::Outside => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_range",
                        format!("entity-bytes {range} is outside the entity's {size} bytes"),
                    ))
                }
            }
        }
    } else {
        // Reads the terminal block now, so a missing one is a clean 404.
        selector::fetch(blocks, &terminal).await?;
    }
    Ok(CarPlan {
        root,
        path,
        terminal,
        selection: Selection { scope, bytes, dups },
        range,
    })
}

/// The size in bytes of the file at `cid`, or `None` when it is not a file.
async fn file_size<G: BlockGet>(blocks: &G, cid: &Cid) -> Result<Option<u64>, ApiError> {
    let data = selector::fetch(blocks, cid).await?;
    match cid.codec() {
        RAW => Ok(Some(data.len() as u64)),
        DAG_PB => {
            let node = unixfs::decode_node(cid, &data)?;
            Ok(match node.kind() {
                Some(unixfs::DataType::File | unixfs::DataType::Raw) => {
                    let inline = node.data.data.as_ref().map_or(0, |d| d.len() as u64);
                    Some(node.data.filesize.unwrap_or(inline))
                }
                _ => None,
            })
        }
        _ => Ok(None),
    }
}

/// Streams the planned CAR. A failure after the first byte aborts the body, so a client
/// never mistakes a cut CAR for a whole one.
pub(super) fn car<G: BlockGet + Send + 'static>(
    state: &AppState,
    blocks: G,
    plan: CarPlan,
    filename: Option<&str>,
) -> Response {
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    let root = plan.root;
    let mut walker = SelectiveWalker::new(blocks, plan.path.clone(), plan.terminal, plan.selection);
    let export = state.node.parts().tasks.spawn_joinable(async move {
        let mut car = CarWriter::new(writer, &[root]).await?;
        while let Some(visit) = walker.next().await? {
            // Identity blocks are virtual: their bytes are in the CID that links them.
            if visit.cid.hash().code() != IDENTITY {
                car.write_block(&visit.cid, &visit.data).await?;
            }
        }
        car.finish().await?;
        Ok::<_, crate::content::car::CarError>(())
    });
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
    let dups = if plan.selection.dups { "y" } else { "n" };
    let content_type = format!("{CAR_TYPE}; version=1; order=dfs; dups={dups}");
    let mut response = (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response();
    binary_headers(
        &mut response,
        filename.unwrap_or(&format!("{}.car", plan.terminal)),
    );
    if let Ok(etag) = HeaderValue::from_str(&plan.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
