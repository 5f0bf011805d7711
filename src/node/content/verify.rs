//! `repo verify`: every recorded block hashed against its CID, every block a pin wants looked
//! for, and, on request, the bad ones repaired.
//!
//! A recorded block is *bad* when its file is missing or does not hash to its CID; a pinned
//! block is also bad when it has no row at all (the start-up reconcile removed a lost or torn
//! copy and left the pin wanting it). Repair, when asked: a bad block no pin references is
//! removed (it was a cache); one a pin references has its torn copy and row removed and is
//! fetched again from peers over Bitswap (connected peers, then the DHT's providers), stored
//! and recorded. What could not be fetched stays listed as unrepaired with the reason.
//!
//! Memory is bounded: rows are read a page at a time, and the report lists at most
//! [`MAX_LISTED`] bad blocks (the counts stay exact).

use cid::Cid;
use futures::{StreamExt, TryStreamExt};

use super::Content;
use crate::blockstore::{BlockStatus, Blockstore};
use crate::content::BlockGet;
use crate::node::Result;

/// Rows read per step.
const PAGE: usize = 1000;
/// Blocks hashed at once.
const PARALLEL: usize = 8;
/// Bad blocks listed in a report; past it only the counts grow.
pub const MAX_LISTED: usize = 10_000;

/// What was wrong with a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Recorded (or wanted by a pin) but nothing is stored.
    Missing,
    /// Stored bytes that do not hash to the CID.
    Corrupt,
}

/// What a repair did with a bad block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Not asked to repair.
    Found,
    /// Fetched again from a peer, verified and stored.
    Repaired,
    /// No pin wanted it: its copy and record are removed.
    Removed,
    /// Wanted by a pin, but no peer gave it.
    Unrepaired { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadBlock {
    #[serde(serialize_with = "crate::content::cid_text::serialize")]
    pub cid: Cid,
    pub problem: Problem,
    pub pinned: bool,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Blocks checked: every row, and every pinned block without one.
    pub checked: u64,
    pub intact: u64,
    /// Bad blocks found (missing or corrupt).
    pub bad: u64,
    pub repaired: u64,
    pub removed: u64,
    pub unrepaired: u64,
    /// The bad blocks, up to [`MAX_LISTED`].
    pub blocks: Vec<BadBlock>,
}

impl VerifyReport {
    /// Whether the store now holds every block it records and every block a pin wants.
    pub fn healthy(&self) -> bool {
        self.bad == self.repaired + self.removed
    }

    fn add(&mut self, bad: BadBlock) {
        self.bad += 1;
        match &bad.outcome {
            Outcome::Found => {}
            Outcome::Repaired => self.repaired += 1,
            Outcome::Removed => self.removed += 1,
            Outcome::Unrepaired { .. } => self.unrepaired += 1,
        }
        if self.blocks.len() < MAX_LISTED {
            self.blocks.push(bad);
        }
    }
}

impl Content {
    /// Checks every block (see the module docs); with `repair`, fixes what it can.
    pub async fn verify_repo(&self, repair: bool) -> Result<VerifyReport> {
        // As a pin does: adds and pins run beside it, GC waits.
        let _guard = self.inner.gc_lock.read().await;
        let mut report = VerifyReport::default();
        let (db, store) = (&self.parts.db, &self.parts.store);

        // First the blocks pins want that have no row (the reconcile found them lost or torn),
        // so that rows this run removes are not visited twice.
        let mut after: Option<String> = None;
        loop {
            let wanted = db.pinned_without_row(after.as_deref(), PAGE).await?;
            let Some(last) = wanted.last() else {
                break;
            };
            after = Some(last.to_string());
            report.checked += wanted.len() as u64;
            for cid in wanted {
                let found = self.handle_bad(cid, Problem::Missing, None, repair).await?;
                report.add(found);
            }
        }

        let mut after: Option<String> = None;
        loop {
            let page = db.blocks_page(after.as_deref(), PAGE).await?;
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            report.checked += page.len() as u64;
            let bad: Vec<(Cid, u64, BlockStatus)> =
                futures::stream::iter(page)
                    .map(|(_, cid, size)| async move {
                        store.verify(&cid).await.map(|s| (cid, size, s))
                    })
                    .buffer_unordered(PARALLEL)
                    .try_filter(|(_, _, status)| std::future::ready(*status != BlockStatus::Intact))
                    .try_collect()
                    .await?;
            for (cid, size, status) in bad {
                let problem = match status {
                    BlockStatus::Corrupt => Problem::Corrupt,
                    _ => Problem::Missing,
                };
                let found = self.handle_bad(cid, problem, Some(size), repair).await?;
                report.add(found);
            }
        }
        report.intact = report.checked - report.bad;
        Ok(report)
    }

    /// Records, and with `repair` fixes, one bad block. `recorded`: the size its row records,
    /// if it has one.
    async fn handle_bad(
        &self,
        cid: Cid,
        problem: Problem,
        recorded: Option<u64>,
        repair: bool,
    ) -> Result<BadBlock> {
        let pinned = recorded.is_none() || self.referenced(&cid).await?;
        tracing::warn!(%cid, ?problem, pinned, "repo verify: bad block");
        let outcome = if !repair {
            Outcome::Found
        } else {
            if let Some(size) = recorded {
                // The copy is worthless and its row claims bytes the store does not hold.
                self.parts.store.delete_recorded(&cid, size).await?;
                self.parts.db.forget_block(&cid).await?;
            }
            if pinned {
                self.refetch(&cid).await?
            } else {
                Outcome::Removed
            }
        };
        Ok(BadBlock {
            cid,
            problem,
            pinned,
            outcome,
        })
    }

    /// Fetches `cid` from peers, stores and records it.
    async fn refetch(&self, cid: &Cid) -> Result<Outcome> {
        if self.parts.net.running().is_none() {
            return Ok(Outcome::Unrepaired {
                reason: "the node is offline".into(),
            });
        }
        match self.blocks_kept().get_block(cid).await {
            Ok(_) => {
                self.flush_fetched().await?;
                Ok(Outcome::Repaired)
            }
            Err(e) => Ok(Outcome::Unrepaired {
                reason: e.to_string(),
            }),
        }
    }
}
