//! Pins and garbage collection.

use cid::Cid;

use super::Content;
use crate::blockstore::Blockstore;
use crate::node::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub removed_blocks: u64,
    pub freed_bytes: u64,
}

impl Content {
    /// Pins a DAG, fetching any block that is not local; records every block it references.
    pub async fn pin_add(&self, root: &Cid, name: Option<&str>) -> Result<usize> {
        let _guard = self.inner.gc_lock.read().await;
        let refs = super::car::dag_blocks_from(self.blocks_kept(), root).await?;
        self.parts.db.add_pin(root, name, &refs).await?;
        Ok(refs.len())
    }

    pub async fn pin_rm(&self, root: &Cid) -> Result<bool> {
        Ok(self.parts.db.remove_pin(root).await?)
    }

    /// Removes every stored block that no pin references.
    pub async fn gc(&self) -> Result<GcReport> {
        Ok(self.gc_listed().await?.0)
    }

    /// Like [`Content::gc`], also returning the CIDs removed (the list is as long as the one
    /// of unreferenced blocks the collection reads anyway).
    pub async fn gc_listed(&self) -> Result<(GcReport, Vec<Cid>)> {
        let _exclusive = self.inner.gc_lock.write().await;
        let mut report = GcReport::default();
        let mut removed = Vec::new();
        for (cid, size) in self.parts.db.unreferenced_blocks().await? {
            // A pin may name the block by its CIDv0/v1 twin, which the query cannot see.
            if self.referenced(&cid).await? {
                continue;
            }
            self.parts.store.delete_recorded(&cid, size).await?;
            self.parts.db.forget_block(&cid).await?;
            report.removed_blocks += 1;
            report.freed_bytes += size;
            removed.push(cid);
        }
        Ok((report, removed))
    }

    /// Deletes a block if no pin references it (caller holds the GC write lock).
    pub(super) async fn remove_if_unreferenced(&self, cid: &Cid) -> Result<()> {
        if self.referenced(cid).await? {
            return Ok(());
        }
        self.parts.store.delete(cid).await?;
        self.parts.db.forget_block(cid).await?;
        Ok(())
    }
}

impl Content {
    /// Whether any pin's DAG holds `cid` (under this CID or its CIDv0/v1 twin).
    pub async fn is_referenced(&self, cid: &Cid) -> Result<bool> {
        self.referenced(cid).await
    }

    /// Every stored block, recorded: how many there are (what `repo stat` counts).
    pub async fn block_count(&self) -> Result<u64> {
        Ok(self.parts.db.block_count().await?)
    }
}
