//! Pins and garbage collection.

use std::sync::Arc;

use cid::Cid;

use super::{Node, Result};
use crate::blockstore::Blockstore;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub removed_blocks: u64,
    pub freed_bytes: u64,
}

impl Node {
    /// Pins a DAG, fetching any block that is not local; records every block it references.
    pub async fn pin_add(self: &Arc<Self>, root: &Cid, name: Option<&str>) -> Result<usize> {
        let _guard = self.gc_lock.read().await;
        let refs = super::car::dag_blocks_from(self.blocks_kept(), root).await?;
        self.db.add_pin(root, name, &refs).await?;
        Ok(refs.len())
    }

    pub async fn pin_rm(&self, root: &Cid) -> Result<bool> {
        Ok(self.db.remove_pin(root).await?)
    }

    /// Removes every stored block that no pin references.
    pub async fn gc(&self) -> Result<GcReport> {
        let _exclusive = self.gc_lock.write().await;
        let mut report = GcReport::default();
        for (cid, size) in self.db.unreferenced_blocks().await? {
            self.store.delete(&cid).await?;
            self.db.forget_block(&cid).await?;
            report.removed_blocks += 1;
            report.freed_bytes += size;
        }
        Ok(report)
    }

    /// Deletes a block if no pin references it (caller holds the GC write lock).
    pub(super) async fn remove_if_unreferenced(&self, cid: &Cid) -> Result<()> {
        if self.db.is_referenced(cid).await? {
            return Ok(());
        }
        self.store.delete(cid).await?;
        self.db.forget_block(cid).await?;
        Ok(())
    }
}
