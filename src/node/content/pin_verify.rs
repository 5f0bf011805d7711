//! `pin verify`: is every pinned DAG whole in the local store?
//!
//! Each pin's DAG is walked from its root through the local store only (never the network):
//! a block that is absent, does not hash to its CID, or cannot be decoded is a bad node, and
//! the walk goes on past it so one report names them all. Nothing is changed; `repo verify
//! --repair` is the command that mends.

use std::collections::HashSet;

use cid::Cid;

use super::Content;
use crate::content::{dag, BlockGet, ContentError};
use crate::node::Result;

/// Bad nodes listed per pin; the count covers them all.
pub const MAX_BAD_LISTED: usize = 100;

/// What is wrong with a node of a pinned DAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadNodeKind {
    Missing,
    Corrupt,
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadNode {
    #[serde(serialize_with = "crate::content::cid_text::serialize")]
    pub cid: Cid,
    pub problem: BadNodeKind,
}

/// One pin's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PinCheck {
    #[serde(serialize_with = "crate::content::cid_text::serialize")]
    pub cid: Cid,
    pub ok: bool,
    /// Blocks of the DAG that were read and found whole.
    pub blocks: u64,
    pub bad_count: u64,
    /// The bad nodes, up to [`MAX_BAD_LISTED`].
    pub bad_nodes: Vec<BadNode>,
}

impl Content {
    /// Checks every pin's DAG against the local store.
    pub async fn verify_pins(&self) -> Result<Vec<PinCheck>> {
        let pins = self.list_pins().await?;
        let mut checks = Vec::with_capacity(pins.len());
        for pin in pins {
            checks.push(self.verify_pin(pin.cid).await?);
        }
        Ok(checks)
    }

    async fn verify_pin(&self, root: Cid) -> Result<PinCheck> {
        let blocks = self.local_blocks();
        let mut check = PinCheck {
            cid: root,
            ok: true,
            blocks: 0,
            bad_count: 0,
            bad_nodes: Vec::new(),
        };
        let mut stack = vec![root];
        let mut seen = HashSet::new();
        while let Some(cid) = stack.pop() {
            if !seen.insert(cid) {
                continue;
            }
            let problem = match blocks.get_block(&cid).await {
                Ok(data) => match dag::links(&cid, &data) {
                    Ok(children) => {
                        check.blocks += 1;
                        stack.extend(children.into_iter().rev());
                        continue;
                    }
                    Err(_) => BadNodeKind::Malformed,
                },
                Err(ContentError::NotFound(_)) => BadNodeKind::Missing,
                Err(ContentError::Corrupt(_) | ContentError::HashMismatch(_)) => {
                    BadNodeKind::Corrupt
                }
                Err(e) => return Err(e.into()),
            };
            check.ok = false;
            check.bad_count += 1;
            if check.bad_nodes.len() < MAX_BAD_LISTED {
                check.bad_nodes.push(BadNode { cid, problem });
            }
        }
        Ok(check)
    }
}
