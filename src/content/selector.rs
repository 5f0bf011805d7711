//! Selective DAG walks: the blocks that prove a path, then the blocks of the entity at its
//! end, as the trustless gateway's `dag-scope`, `entity-bytes` and `dups` ask
//! (shared/specs/ipfs/trustless-gateway.md); and the bytes of a file range.
//!
//! Invariants:
//! - Order is depth-first, pre-order, links in the order the node lists them (`order=dfs`):
//!   the path blocks from the requested root down, then the terminal block, then what the
//!   scope adds under it. With `dups = false` a block appears once, at its first occurrence
//!   (path blocks included); with `dups = true` every occurrence is sent.
//! - Identity CIDs (multihash 0x00) are never emitted: their bytes are in the CID itself,
//!   so [`fetch`] answers them without a block source.
//! - A file range visits only the nodes whose `blocksizes` overlap it, so a range of a large
//!   file costs the blocks it needs and the nodes above them, never the whole file.
//! - Memory is bounded by the pending stack (depth times width) and, without dups, the set
//!   of CIDs sent.

use std::collections::HashSet;

use bytes::Bytes;
use cid::Cid;

use super::hamt::{self, Step};
use super::unixfs::{decode_node, DataType, Node};
use super::{BlockGet, ContentError, Result, DAG_PB, RAW};

/// Multihash code of the identity "hash": the digest is the data.
pub const IDENTITY: u64 = 0x00;

/// Largest identity digest accepted (what Kubo allows inline).
const MAX_IDENTITY_SIZE: usize = 128;

/// How much of the DAG under the end of the path a walk takes (`dag-scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The terminal block only.
    Block,
    /// What it takes to read the whole file or enumerate the directory at the end.
    Entity,
    /// The whole DAG under the terminal block.
    #[default]
    All,
}

impl std::str::FromStr for Scope {
    type Err = ContentError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "block" => Ok(Scope::Block),
            "entity" => Ok(Scope::Entity),
            "all" => Ok(Scope::All),
            other => Err(ContentError::InvalidOption(format!(
                "unknown dag-scope {other:?} (use block, entity or all)"
            ))),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Block => "block",
            Scope::Entity => "entity",
            Scope::All => "all",
        })
    }
}

/// `entity-bytes=from:to` as written: inclusive bounds, negative ones counted from the end,
/// `to = None` for `*` (end of file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub from: i64,
    pub to: Option<i64>,
}

impl std::str::FromStr for ByteRange {
    type Err = ContentError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            ContentError::InvalidOption(format!(
                "invalid entity-bytes {s:?} (use from:to with integers, `*` for the end)"
            ))
        };
        let (from, to) = s.split_once(':').ok_or_else(bad)?;
        let from = from.parse::<i64>().map_err(|_| bad())?;
        let to = match to {
            "*" => None,
            to => Some(to.parse::<i64>().map_err(|_| bad())?),
        };
        Ok(ByteRange { from, to })
    }
}

impl std::fmt::Display for ByteRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to {
            Some(to) => write!(f, "{}:{to}", self.from),
            None => write!(f, "{}:*", self.from),
        }
    }
}

/// What a range resolves to against an entity of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Bytes `first..=last`, both inside the entity.
    Bytes { first: u64, last: u64 },
    /// A zero-length range: only the terminal block is sent.
    Empty,
    /// Entirely past the end of the entity (a 400 when known up front).
    Outside,
}

impl ByteRange {
    pub fn resolve(&self, size: u64) -> Resolved {
        let size_i = i128::from(size);
        let at = |v: i64| {
            let v = i128::from(v);
            if v < 0 {
                (size_i + v).max(0)
            } else {
                v
            }
        };
        let first = at(self.from);
        let last = match self.to {
            None => size_i - 1,
            Some(to) => at(to).min(size_i - 1),
        };
        if first >= size_i {
            return if size == 0 {
                Resolved::Empty
            } else {
                Resolved::Outside
            };
        }
        if last < first {
            return Resolved::Empty;
        }
        // Both are within 0..size here, so they fit a u64.
        Resolved::Bytes {
            first: u64::try_from(first).unwrap_or(0),
            last: u64::try_from(last).unwrap_or(0),
        }
    }
}

/// A block by CID from `src`, or from the CID itself when its multihash is the identity.
pub async fn fetch<G: BlockGet>(src: &G, cid: &Cid) -> Result<Bytes> {
    if cid.hash().code() == IDENTITY {
        let digest = cid.hash().digest();
        if digest.len() > MAX_IDENTITY_SIZE {
            return Err(ContentError::InvalidOption(format!(
                "identity CID {cid} carries {} bytes, over the {MAX_IDENTITY_SIZE}-byte limit",
                digest.len()
            )));
        }
        return Ok(Bytes::copy_from_slice(digest));
    }
    src.get_block(cid).await
}

/// Parses a CID from user input, accepting the identity multihash as well as the hashes
/// [`super::parse_cid`] accepts (the gateway's `bafkqaaa` probe).
pub fn parse_cid_or_identity(input: &str) -> Result<Cid> {
    let cid = Cid::try_from(input.trim()).map_err(|e| ContentError::MalformedCid {
        input: input.to_string(),
        reason: e.to_string(),
    })?;
    if cid.hash().code() == IDENTITY {
        return match cid.codec() {
            RAW | DAG_PB => Ok(cid),
            other => Err(ContentError::UnsupportedCodec(other)),
        };
    }
    super::check_supported(&cid)?;
    Ok(cid)
}

fn decode(cid: &Cid, data: &Bytes) -> Result<Option<Node>> {
    match cid.codec() {
        DAG_PB => Ok(Some(decode_node(cid, data)?)),
        _ => Ok(None),
    }
}

/// Resolves `segments` under `root`, returning every block the resolution read before the
/// terminal one (the root first, HAMT shards included), and the terminal CID.
pub async fn resolve_traced<G: BlockGet>(
    src: &G,
    root: Cid,
    segments: &[&str],
) -> Result<(Vec<Cid>, Cid)> {
    let traced = resolve_path(src, root, segments).await?;
    Ok((traced.path, traced.terminal))
}

/// A path resolved under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    /// Every block read before the terminal one: the root first, HAMT shards included.
    pub path: Vec<Cid>,
    /// The logical roots, one per path segment: the root, then the CID each segment named
    /// (HAMT shards left out); the last is the terminal. What a gateway's `X-Ipfs-Roots` lists.
    pub roots: Vec<Cid>,
    pub terminal: Cid,
}

/// Resolves `segments` under `root`, keeping both the blocks read and the logical roots.
pub async fn resolve_path<G: BlockGet>(src: &G, root: Cid, segments: &[&str]) -> Result<Traced> {
    let mut path = Vec::new();
    let mut roots = vec![root];
    let mut current = root;
    let not_found = || ContentError::PathNotFound {
        root,
        path: segments.join("/"),
    };
    for segment in segments {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return Err(ContentError::InvalidOption(format!(
                "path segment {segment:?} is not allowed"
            )));
        }
        let data = fetch(src, &current).await?;
        path.push(current);
        let node = match decode(&current, &data)? {
            Some(node) if node.kind() == Some(DataType::Directory) => node,
            Some(node) if node.kind() == Some(DataType::HamtShard) => node,
            _ => return Err(ContentError::NotADirectory(current)),
        };
        if node.kind() == Some(DataType::Directory) {
            current = node
                .links
                .iter()
                .find(|l| l.name.as_deref() == Some(segment))
                .map(|l| l.cid)
                .ok_or_else(not_found)?;
            roots.push(current);
            continue;
        }
        let mut links = node.links;
        let mut found = None;
        for depth in 0..8 {
            match hamt::step(&links, segment, depth)? {
                Step::Found(cid) => {
                    found = Some(cid);
                    break;
                }
                Step::Missing => break,
                Step::Descend(child) => {
                    let data = fetch(src, &child).await?;
                    path.push(child);
                    links = decode(&child, &data)?
                        .filter(|n| n.kind() == Some(DataType::HamtShard))
                        .ok_or(ContentError::NotADirectory(child))?
                        .links;
                }
            }
        }
        current = found.ok_or_else(not_found)?;
        roots.push(current);
    }
    Ok(Traced {
        path,
        roots,
        terminal: current,
    })
}

/// What a selective walk sends after the path blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub scope: Scope,
    /// Only with [`Scope::Entity`]: the file bytes whose blocks are wanted (inclusive).
    pub bytes: Option<(u64, u64)>,
    /// Send a block every time the walk meets it.
    pub dups: bool,
}

/// One pending step of the walk.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// The terminal block alone (`Scope::Block`).
    Block(Cid),
    /// The terminal block of `Scope::Entity`: a file walks its range, a HAMT shard its
    /// sub-shards, anything else is its block alone.
    Entity(Cid),
    /// A block and everything under it (`Scope::All`).
    Any(Cid),
    /// A UnixFS file node whose bytes start at `offset`; children visited only where they
    /// overlap the selection's range (all of them without one).
    File { cid: Cid, offset: u64 },
    /// A HAMT shard of the entity directory: its sub-shards are part of the entity, its
    /// entries are not.
    Shard(Cid),
}

/// A block of a selective walk, with the file bytes it carries (leaves and inline data)
/// and where they start in the file, when the walk is inside a file.
#[derive(Debug, Clone)]
pub struct Visit {
    pub cid: Cid,
    pub data: Bytes,
    pub content: Option<(u64, Bytes)>,
}

/// Walks `path` blocks, then the terminal block and what `selection` takes under it.
pub struct SelectiveWalker<G> {
    src: G,
    path: std::vec::IntoIter<Cid>,
    stack: Vec<Pending>,
    selection: Selection,
    seen: HashSet<Cid>,
}

impl<G: BlockGet> SelectiveWalker<G> {
    pub fn new(src: G, path: Vec<Cid>, terminal: Cid, selection: Selection) -> Self {
        let first = match selection.scope {
            Scope::Block => Pending::Block(terminal),
            Scope::Entity => Pending::Entity(terminal),
            Scope::All => Pending::Any(terminal),
        };
        SelectiveWalker {
            src,
            path: path.into_iter(),
            stack: vec![first],
            selection,
            seen: HashSet::new(),
        }
    }

    /// The next block, identity blocks included (callers writing a CAR skip them).
    pub async fn next(&mut self) -> Result<Option<Visit>> {
        for cid in self.path.by_ref() {
            if self.selection.dups || self.seen.insert(cid) {
                let data = fetch(&self.src, &cid).await?;
                return Ok(Some(Visit {
                    cid,
                    data,
                    content: None,
                }));
            }
        }
        while let Some(step) = self.stack.pop() {
            let cid = match step {
                Pending::Block(cid)
                | Pending::Entity(cid)
                | Pending::Any(cid)
                | Pending::File { cid, .. }
                | Pending::Shard(cid) => cid,
            };
            // Without dups, a repeated block and everything under it were already sent.
            if !self.selection.dups && !self.seen.insert(cid) {
                continue;
            }
            let data = fetch(&self.src, &cid).await?;
            let content = self.expand(step, cid, &data)?;
            return Ok(Some(Visit { cid, data, content }));
        }
        Ok(None)
    }

    /// Queues what the selection needs under one block; returns the file bytes the block
    /// itself carries, when the walk is inside a file.
    fn expand(&mut self, step: Pending, cid: Cid, data: &Bytes) -> Result<Option<(u64, Bytes)>> {
        match step {
            Pending::Block(_) => Ok(None),
            Pending::Any(_) => {
                let children = super::dag::links(&cid, data)?;
                self.stack
                    .extend(children.into_iter().rev().map(Pending::Any));
                Ok(None)
            }
            Pending::Entity(_) | Pending::File { .. } => {
                let offset = match step {
                    Pending::File { offset, .. } => offset,
                    _ => 0,
                };
                let Some(node) = decode(&cid, data)? else {
                    // A raw leaf: all its bytes are file bytes.
                    return Ok((cid.codec() == RAW).then(|| (offset, data.clone())));
                };
                match node.kind() {
                    Some(DataType::File | DataType::Raw) => Ok(self.push_file(&node, offset)),
                    Some(DataType::HamtShard) if matches!(step, Pending::Entity(_)) => {
                        self.push_shards(&node);
                        Ok(None)
                    }
                    // A basic directory is enumerated from its own block; other kinds are
                    // leaves of the entity.
                    _ => Ok(None),
                }
            }
            Pending::Shard(_) => {
                if let Some(node) = decode(&cid, data)? {
                    self.push_shards(&node);
                }
                Ok(None)
            }
        }
    }

    /// Queues the children of a file node that overlap the range; returns its inline bytes.
    fn push_file(&mut self, node: &Node, offset: u64) -> Option<(u64, Bytes)> {
        let inline = node.data.data.clone().unwrap_or_default();
        let mut start = offset + inline.len() as u64;
        let mut children = Vec::new();
        for (i, link) in node.links.iter().enumerate() {
            let len = node.data.blocksizes.get(i).copied().unwrap_or(0);
            let wanted = match self.selection.bytes {
                None => true,
                Some((first, last)) => start <= last && start + len > first,
            };
            if wanted {
                children.push(Pending::File {
                    cid: link.cid,
                    offset: start,
                });
            }
            start += len;
        }
        self.stack.extend(children.into_iter().rev());
        (!inline.is_empty()).then(|| (offset, Bytes::from(inline)))
    }

    fn push_shards(&mut self, node: &Node) {
        let shards: Vec<Pending> = node
            .links
            .iter()
            .filter(|l| l.name.as_deref().is_some_and(|n| n.len() == 2))
            .map(|l| Pending::Shard(l.cid))
            .collect();
        self.stack.extend(shards.into_iter().rev());
    }
}

/// Streams bytes `first..=last` of the file at `cid`, reading only the blocks they are in.
pub fn cat_range<G: BlockGet + Clone + Send + 'static>(
    src: G,
    cid: Cid,
    first: u64,
    last: u64,
) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
    let selection = Selection {
        scope: Scope::Entity,
        bytes: Some((first, last)),
        dups: true,
    };
    let walker = SelectiveWalker::new(src, Vec::new(), cid, selection);
    futures::stream::try_unfold(walker, move |mut walker| async move {
        while let Some(visit) = walker.next().await? {
            let Some((start, bytes)) = visit.content else {
                continue;
            };
            let end = start + bytes.len() as u64;
            if end <= first || start > last {
                continue;
            }
            let from = first.saturating_sub(start) as usize;
            let to = ((last + 1).min(end) - start) as usize;
            return Ok(Some((bytes.slice(from..to), walker)));
        }
        Ok(None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_parse_and_resolve_as_the_spec_says() {
        let r = |s: &str| s.parse::<ByteRange>().unwrap();
        assert_eq!(r("0:*").resolve(10), Resolved::Bytes { first: 0, last: 9 });
        assert_eq!(r("-3:*").resolve(10), Resolved::Bytes { first: 7, last: 9 });
        assert_eq!(r("2:-3").resolve(10), Resolved::Bytes { first: 2, last: 7 });
        assert_eq!(
            r("5:100").resolve(10),
            Resolved::Bytes { first: 5, last: 9 }
        );
        assert_eq!(
            r("-100:3").resolve(10),
            Resolved::Bytes { first: 0, last: 3 }
        );
        assert_eq!(r("10:*").resolve(10), Resolved::Outside);
        assert_eq!(r("5:4").resolve(10), Resolved::Empty);
        assert_eq!(r("0:*").resolve(0), Resolved::Empty);
        for bad in ["", "5", "a:b", "1:x", ":", "1.5:2", "*:3"] {
            assert!(
                matches!(
                    bad.parse::<ByteRange>(),
                    Err(ContentError::InvalidOption(_))
                ),
                "{bad:?}"
            );
        }
        assert!("sideways".parse::<Scope>().is_err());
        assert_eq!("entity".parse::<Scope>().unwrap(), Scope::Entity);
    }

    #[test]
    fn identity_cids_parse_and_carry_their_bytes() {
        let probe = parse_cid_or_identity("bafkqaaa").unwrap();
        assert_eq!(probe.hash().code(), IDENTITY);
        assert!(probe.hash().digest().is_empty());
        assert!(parse_cid_or_identity("bafkqaaa-nope").is_err());
    }
}
