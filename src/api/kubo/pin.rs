//! `pin/add`, `pin/ls`, `pin/rm`.
//!
//! Cairn's pins are Kubo's recursive pins: a pin holds its whole DAG. Kubo's direct pins
//! (`recursive=false`) have no equivalent and are refused. `pin/ls` reports `recursive` for
//! pinned roots and `indirect` for blocks inside a pinned DAG, as Kubo does; `type=direct`
//! lists nothing. With `offline=true`, `pin/add` pins only a DAG that is wholly here. The
//! listing of indirect pins walks every pinned DAG in the local store, as Kubo's does: its
//! size is the repository's.

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::response::Response;
use cid::Cid;
use serde::Serialize;

use super::{json, json_stream, resolve, Args, Blocks, KuboError};
use crate::api::AppState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PinsOutput {
    pins: Vec<String>,
}

fn refuse_direct(args: &Args) -> Result<(), KuboError> {
    match args.bool("recursive", true)? {
        true => Ok(()),
        false => Err(KuboError::command(
            "direct (non-recursive) pins are not supported by this node: a pin holds its whole DAG",
        )),
    }
}

/// `pin/add <path>...`: fetches what is not local, then pins each DAG.
pub async fn add(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let paths = args.args("ipfs-path")?;
    refuse_direct(&args)?;
    let name = args.flag("name");
    let blocks = Blocks::of(&state, &args)?;
    let mut pinned = Vec::new();
    for path in paths {
        let cid = resolve(&blocks, path).await?;
        if let Blocks::Local(_) = blocks {
            // Offline: the whole DAG must be here already; pinning would fetch the rest.
            match state.node.content().dag_blocks(&cid).await {
                Ok(_) => {}
                Err(crate::node::NodeError::Content(e)) => return Err(blocks.error(e)),
                Err(e) => return Err(e.into()),
            }
        }
        state.node.content().pin_add(&cid, name).await?;
        super::add::announce(&state.node, cid);
        pinned.push(cid.to_string());
    }
    Ok(json(&PinsOutput { pins: pinned }))
}

/// `pin/rm <path>...`.
pub async fn rm(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let paths = args.args("ipfs-path")?;
    refuse_direct(&args)?;
    let blocks = Blocks::of(&state, &args)?;
    let roots = state.node.content().list_pins().await?;
    let mut removed = Vec::new();
    for path in paths {
        let cid = resolve(&blocks, path).await?;
        // The pin as it was made: `Qm...` and its `bafy...` twin name the same pin.
        let cid = roots
            .iter()
            .find(|r| same_block(&r.cid, &cid))
            .map_or(cid, |r| r.cid);
        if !state.node.content().pin_rm(&cid).await? {
            return Err(KuboError::command(format!(
                "{cid} is not pinned or pinned indirectly"
            )));
        }
        removed.push(cid.to_string());
    }
    Ok(json(&PinsOutput { pins: removed }))
}

/// One pin, as a streamed line (Kubo's `PinLsObject`) or a value of `Keys`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PinLsObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(rename = "Type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PinLsList {
    keys: BTreeMap<String, PinLsObject>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    All,
    Recursive,
    Indirect,
    Direct,
}

/// `pin/ls [<path>...]`: `{"Keys": {<cid>: {"Type"}}}`, or with `stream=true` one
/// `{"Cid", "Type"}` line per pin. `names=true` (or a `name` filter) adds `Name`.
pub async fn ls(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let wanted = match args.flag("type").unwrap_or("all") {
        "all" => Wanted::All,
        "recursive" => Wanted::Recursive,
        "indirect" => Wanted::Indirect,
        "direct" => Wanted::Direct,
        other => {
            return Err(KuboError::command(format!(
                "invalid type '{other}', must be one of {{direct, indirect, recursive, all}}"
            )))
        }
    };
    let filter = args.flag("name").filter(|n| !n.is_empty());
    let names = args.bool("names", false)? || filter.is_some();
    let content = state.node.content();
    let roots = content.list_pins().await?;
    let mut found: Vec<(Cid, PinLsObject)> = Vec::new();
    let named = |name: &Option<String>| names.then(|| name.clone().unwrap_or_default());
    if !args.optional_args().is_empty() {
        let blocks = Blocks::of(&state, &args)?;
        for path in args.optional_args() {
            let cid = resolve(&blocks, path).await?;
            let root = roots.iter().find(|r| same_block(&r.cid, &cid));
            let kind = match root {
                Some(_) if wanted != Wanted::Indirect && wanted != Wanted::Direct => "recursive",
                _ if wanted != Wanted::Recursive
                    && wanted != Wanted::Direct
                    && content.is_referenced(&cid).await? =>
                {
                    "indirect"
                }
                _ => {
                    return Err(KuboError::command(format!("path '{path}' is not pinned")));
                }
            };
            let name = root.and_then(|r| named(&r.name));
            found.push((cid, object(kind, name)));
        }
    } else {
        if matches!(wanted, Wanted::All | Wanted::Recursive) {
            for root in &roots {
                if filter.is_some_and(|f| !root.name.as_deref().unwrap_or("").contains(f)) {
                    continue;
                }
                found.push((root.cid, object("recursive", named(&root.name))));
            }
        }
        if matches!(wanted, Wanted::All | Wanted::Indirect) && filter.is_none() {
            let root_set: HashSet<Cid> = roots.iter().map(|r| r.cid).collect();
            let mut seen = HashSet::new();
            for root in &roots {
                for cid in content.dag_blocks(&root.cid).await? {
                    if !root_set.contains(&cid) && seen.insert(cid) {
                        found.push((cid, object("indirect", names.then(String::new))));
                    }
                }
            }
        }
    }
    if args.bool("stream", false)? {
        let lines = found.into_iter().map(|(cid, mut pin)| {
            pin.cid = Some(cid.to_string());
            Ok(super::error::json_line(&pin))
        });
        return Ok(json_stream(futures::stream::iter(
            lines.collect::<Vec<_>>(),
        )));
    }
    let keys = found
        .into_iter()
        .map(|(cid, pin)| (cid.to_string(), pin))
        .collect();
    Ok(json(&PinLsList { keys }))
}

fn object(kind: &'static str, name: Option<String>) -> PinLsObject {
    PinLsObject {
        cid: None,
        name,
        kind,
    }
}

/// The same block under either CID version (a pin made as `Qm...` matches its `bafy...`).
fn same_block(a: &Cid, b: &Cid) -> bool {
    a.codec() == b.codec() && a.hash() == b.hash()
}
