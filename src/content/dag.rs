//! DAG structure: the links of a block and the one traversal order Cairn uses everywhere
//! (CAR export, pinning, garbage-collection marking, piece building): depth-first,
//! pre-order, links in the order the node lists them, each block once at its first occurrence.

use std::collections::HashSet;

use bytes::Bytes;
use cid::Cid;

use super::{BlockGet, ContentError, Result, DAG_CBOR, DAG_PB, RAW};

/// The CIDs a block links to, in the order the node lists them.
pub fn links(cid: &Cid, data: &Bytes) -> Result<Vec<Cid>> {
    match cid.codec() {
        RAW => Ok(Vec::new()),
        DAG_PB => {
            let node = ipld_dagpb::PbNode::from_bytes(data.clone()).map_err(|e| {
                ContentError::MalformedNode {
                    cid: *cid,
                    kind: "dag-pb",
                    reason: e.to_string(),
                }
            })?;
            Ok(node.links.into_iter().map(|link| link.cid).collect())
        }
        // Cairn's own dag-cbor objects are leaves of the DAGs it moves.
        DAG_CBOR => Ok(Vec::new()),
        other => Err(ContentError::UnsupportedCodec(other)),
    }
}

/// Walks a DAG depth-first from `root`, yielding each distinct block once, in pre-order.
///
/// Memory is bounded by the number of pending links and the set of CIDs already visited.
pub struct DagWalker<G> {
    source: G,
    stack: Vec<Cid>,
    seen: HashSet<Cid>,
}

impl<G: BlockGet> DagWalker<G> {
    pub fn new(source: G, root: Cid) -> Self {
        DagWalker {
            source,
            stack: vec![root],
            seen: HashSet::new(),
        }
    }

    /// The next block in traversal order, or `None` when the DAG is exhausted.
    pub async fn next(&mut self) -> Result<Option<(Cid, Bytes)>> {
        while let Some(cid) = self.stack.pop() {
            if !self.seen.insert(cid) {
                continue;
            }
            let data = self.source.get_block(&cid).await?;
            let children = links(&cid, &data)?;
            self.stack.extend(children.into_iter().rev());
            return Ok(Some((cid, data)));
        }
        Ok(None)
    }
}
