//! Pins and garbage collection.

use cid::Cid;
use futures::StreamExt;

use super::Content;
use crate::blockstore::Blockstore;
use crate::node::Result;

/// Blocks looked at per batch of [`Content::gc`] (under the lock adds wait on).
pub const GC_BATCH: usize = 1000;
/// Block files unlinked at once within a batch.
const GC_PARALLEL_DELETES: usize = 8;

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

    /// Removes every stored block that no pin references, in batches of [`GC_BATCH`]: each
    /// batch holds the GC write lock only while it runs, so an add waits for at most one
    /// batch, and blocks pinned between batches are seen by the next one's query.
    ///
    /// Holds no list of what it removed (96 bytes a CID: ~96 MB for a million), unlike
    /// [`Content::gc_listed`].
    pub async fn gc(&self) -> Result<GcReport> {
        self.gc_into(None).await
    }

    /// Like [`Content::gc`], also returning the CIDs removed.
    pub async fn gc_listed(&self) -> Result<(GcReport, Vec<Cid>)> {
        let mut removed = Vec::new();
        let report = self.gc_into(Some(&mut removed)).await?;
        Ok((report, removed))
    }

    /// The gc loop; the removed CIDs go into `removed` when given.
    async fn gc_into(&self, mut removed: Option<&mut Vec<Cid>>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let mut after: Option<String> = None;
        loop {
            let batch = {
                let _exclusive = self.inner.gc_lock.write().await;
                self.gc_batch(after.as_deref(), &mut report, removed.as_deref_mut())
                    .await?
            };
            match batch {
                Some(last) => after = Some(last),
                None => return Ok(report),
            }
            // Let the adds that queued behind this batch take the lock first.
            tokio::task::yield_now().await;
        }
    }

    /// One batch after `after` (caller holds the GC write lock): the last CID looked at, or
    /// `None` when nothing is left.
    async fn gc_batch(
        &self,
        after: Option<&str>,
        report: &mut GcReport,
        removed: Option<&mut Vec<Cid>>,
    ) -> Result<Option<String>> {
        let candidates = self
            .parts
            .db
            .unreferenced_blocks_after(after, GC_BATCH)
            .await?;
        let Some((last, _)) = candidates.last() else {
            return Ok(None);
        };
        let last = last.to_string();
        // A pin may name a block by its CIDv0/v1 twin, which the query cannot see.
        let twins: Vec<String> = candidates
            .iter()
            .flat_map(|(cid, _)| super::reconcile::row_texts(cid).into_iter().skip(1))
            .collect();
        let pinned_twins = self.parts.db.referenced_among(&twins).await?;
        let doomed: Vec<(Cid, u64)> = candidates
            .into_iter()
            .filter(|(cid, _)| {
                !super::reconcile::row_texts(cid)
                    .iter()
                    .skip(1)
                    .any(|t| pinned_twins.contains(t))
            })
            .collect();
        // Files go a few at a time (each is a blocking unlink); rows in one transaction after.
        let mut deletes = futures::stream::iter(doomed.clone())
            .map(|(cid, size)| {
                let store = self.parts.store.clone();
                async move { store.delete_recorded(&cid, size).await }
            })
            .buffer_unordered(GC_PARALLEL_DELETES);
        while let Some(deleted) = deletes.next().await {
            deleted?;
        }
        drop(deletes);
        let gone: Vec<Cid> = doomed.iter().map(|(cid, _)| *cid).collect();
        self.parts.db.forget_blocks(&gone).await?;
        if let Some(removed) = removed {
            removed.extend(gone);
        }
        report.removed_blocks += doomed.len() as u64;
        report.freed_bytes += doomed.iter().map(|(_, size)| size).sum::<u64>();
        Ok(Some(last))
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
