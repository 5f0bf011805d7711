//! `cat`, `get` and `ls`: reading UnixFS files and directories by IPFS path.
//!
//! Paths are `/ipfs/<cid>[/<path>]` or `<cid>[/<path>]`, resolved through UnixFS directories
//! (basic and HAMT-sharded). With `offline=true` only local blocks are read, and a missing one
//! is Kubo's `block was not found locally (offline)` error.
//!
//! - `cat` streams the file's bytes (`offset`, `length` as Kubo's flags). The first blocks are
//!   read before the status line, so a file that is not there is an error status, not a 200
//!   and an empty body; a failure further in cuts the body.
//! - `get` streams a tar archive (ustar, with a PAX header for longer names) of the file or
//!   directory, its top entry named by the last path segment, else the CID, as Kubo names
//!   it. `compress=true` is refused: Cairn writes no gzip.
//! - `ls` answers `{"Objects": [{"Hash", "Links": [{"Name", "Hash", "Size", "Type",
//!   "Target"}]}]}`, `Type` as UnixFS numbers it (1 directory, 2 file); `Hash` of the object
//!   is the path as given, as Kubo answers.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{byte_stream, json, resolve, Args, Blocks, KuboError};
use crate::api::AppState;
use crate::content::exporter::{self, Entry};
use crate::content::ContentError;

/// Bytes read before the status line (the first leaf of either profile, and its parents).
const AHEAD: usize = 1024 * 1024;

pub async fn cat(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let path = args.arg("ipfs-path")?;
    let offset = args.u64("offset")?.unwrap_or(0);
    let length = args.u64("length")?;
    let blocks = Blocks::of(&state, &args)?;
    let cid = resolve(&blocks, path).await?;
    let entry = exporter::stat(&blocks, &cid)
        .await
        .map_err(|e| blocks.error(e))?;
    if entry.is_dir() {
        return Err(KuboError::command("this dag node is a directory"));
    }
    let stream = range(exporter::cat(blocks.clone(), cid), offset, length);
    let body = read_ahead(stream, &blocks).await?;
    Ok(byte_stream("text/plain", body))
}

/// The bytes of `stream` from `offset`, at most `length` of them.
fn range<S>(
    stream: S,
    offset: u64,
    length: Option<u64>,
) -> impl Stream<Item = Result<Bytes, ContentError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, ContentError>> + Send + 'static,
{
    let state = (offset, length.unwrap_or(u64::MAX));
    stream
        .scan(state, |(skip, left), item| {
            let out = match item {
                Err(e) => Some(Some(Err(e))),
                // Every byte asked for was sent: end the stream, reading no further block.
                Ok(_) if *left == 0 => None,
                Ok(chunk) => {
                    let len = chunk.len() as u64;
                    if *skip >= len {
                        *skip -= len;
                        Some(None)
                    } else {
                        let from = *skip as usize;
                        *skip = 0;
                        let take = (len - from as u64).min(*left);
                        *left -= take;
                        Some(Some(Ok(chunk.slice(from..from + take as usize))))
                    }
                }
            };
            futures::future::ready(out)
        })
        .filter_map(futures::future::ready)
}

/// Reads up to [`AHEAD`] bytes of `stream` before answering: an error there is the answer's
/// status; later errors cut the body.
async fn read_ahead<S>(stream: S, blocks: &Blocks) -> Result<Body, KuboError>
where
    S: Stream<Item = Result<Bytes, ContentError>> + Send + 'static,
{
    // Fused: the body polls it again after the read-ahead saw its end.
    let mut stream = Box::pin(stream.fuse());
    let mut ahead = Vec::new();
    let mut read = 0;
    while read < AHEAD {
        match stream.next().await {
            Some(Ok(chunk)) => {
                read += chunk.len();
                ahead.push(Ok(chunk));
            }
            Some(Err(e)) => return Err(blocks.error(e)),
            None => break,
        }
    }
    let body = futures::stream::iter(ahead)
        .chain(stream)
        .map_err(std::io::Error::other);
    Ok(Body::from_stream(body))
}

pub async fn get(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let path = args.arg("ipfs-path")?;
    if args.bool("compress", false)? {
        return Err(KuboError::command(
            "compress is not supported by this node: get answers an uncompressed tar",
        ));
    }
    let blocks = Blocks::of(&state, &args)?;
    let cid = resolve(&blocks, path).await?;
    let entry = exporter::stat(&blocks, &cid)
        .await
        .map_err(|e| blocks.error(e))?;
    let name = path
        .trim_end_matches('/')
        .rsplit_once('/')
        .map(|(_, last)| last.to_string())
        .filter(|last| !last.is_empty() && parse_root(path).is_none_or(|root| root != *last))
        .unwrap_or_else(|| cid.to_string());
    let tar = super::tar::archive(blocks.clone(), name, cid, entry);
    let body = read_ahead(tar, &blocks).await?;
    Ok(byte_stream("application/x-tar", body))
}

/// The root segment of a path (`/ipfs/<root>/...` or `<root>/...`).
fn parse_root(path: &str) -> Option<&str> {
    let bare = path.strip_prefix("/ipfs/").unwrap_or(path);
    bare.split('/').next()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsOutput {
    objects: Vec<LsObject>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsObject {
    hash: String,
    links: Vec<LsLink>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsLink {
    name: String,
    hash: String,
    size: u64,
    #[serde(rename = "Type")]
    kind: u8,
    target: String,
}

/// UnixFS's numbers for entry types (`unixfs.pb` `DataType`), as `ls` reports them.
const TYPE_DIRECTORY: u8 = 1;
const TYPE_FILE: u8 = 2;
const TYPE_HAMT: u8 = 5;

fn kind_of(entry: &Entry) -> u8 {
    match entry {
        Entry::File { .. } => TYPE_FILE,
        Entry::Directory { sharded: false, .. } => TYPE_DIRECTORY,
        Entry::Directory { sharded: true, .. } => TYPE_HAMT,
    }
}

/// `ls <path>...`: one object per path; a file is an object without links. With
/// `resolve-type=false` and `size=false` children are not read, and their type is `0`
/// (unknown) and size the link's `Tsize`, as Kubo answers then.
pub async fn ls(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let paths = args.args("ipfs-path")?;
    let resolve_type = args.bool("resolve-type", true)?;
    let with_size = args.bool("size", true)?;
    let blocks = Blocks::of(&state, &args)?;
    let mut objects = Vec::new();
    for path in paths {
        let cid = resolve(&blocks, path).await?;
        let entry = exporter::stat(&blocks, &cid)
            .await
            .map_err(|e| blocks.error(e))?;
        let mut links = Vec::new();
        if entry.is_dir() {
            let entries = exporter::list_dir(&blocks, &cid)
                .await
                .map_err(|e| blocks.error(e))?;
            for child in entries {
                links.push(link(&blocks, child, resolve_type || with_size).await?);
            }
        }
        objects.push(LsObject {
            hash: path.clone(),
            links,
        });
    }
    Ok(json(&LsOutput { objects }))
}

async fn link(blocks: &Blocks, child: exporter::DirEntry, read: bool) -> Result<LsLink, KuboError> {
    let (kind, size) = if read {
        let entry = exporter::stat(blocks, &child.cid)
            .await
            .map_err(|e| blocks.error(e))?;
        let size = match entry {
            Entry::File { size } => size,
            Entry::Directory { .. } => 0,
        };
        (kind_of(&entry), size)
    } else {
        (0, child.size)
    };
    Ok(LsLink {
        name: child.name,
        hash: child.cid.to_string(),
        size,
        kind,
        target: String::new(),
    })
}
