//! Reconciling the block store with the database at start.
//!
//! The database's `blocks` rows are the record of what the store holds and the source of the
//! used-byte count. A crash can leave the two apart: a file written and synced whose row never
//! landed (an add, a CAR import or a fetch cut short), a file torn by power loss, or a row whose
//! file was lost or damaged at rest. [`Content::reconcile`] walks both sides and leaves:
//!
//! - every row with an intact file (a row whose file is missing or torn is removed, and the torn
//!   file with it; if a pin references the block, the pin keeps its reference and the block is
//!   counted as *damaged*: `repo verify --repair` fetches it again);
//! - every file with a row (a file without one is verified and adopted, or removed if torn);
//! - the store's used-byte count equal to the sum of the rows.
//!
//! Memory stays bounded whatever the store's size: rows are read a page at a time, the
//! store's listing is a bounded stream consumed in chunks, and database writes go in one
//! transaction per chunk.
//!
//! A row records a block under the CID text its writer used; a CIDv0 and its CIDv1 dag-pb twin
//! are one stored block (see [`crate::blockstore::canonical`]), so both texts are looked up.

use cid::Cid;
use futures::{StreamExt, TryStreamExt};

use super::Content;
use crate::blockstore::{BlockStatus, Blockstore, BlockstoreError};
use crate::node::Result;

/// Rows read, or listed CIDs handled, per step (and per database transaction).
const PAGE: usize = 1000;
/// Blocks hashed at once: enough to keep the disk and the cores busy.
const PARALLEL: usize = 8;

/// What a reconcile found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// Block rows checked against their files.
    pub rows: u64,
    /// Rows whose file was missing or torn and that no pin references: removed.
    pub rows_removed: u64,
    /// Rows whose file was missing or torn that a pin references: the row (and a torn file)
    /// removed, the pin's reference kept, so the block is wanted and can be fetched again.
    pub damaged: u64,
    /// Files without a row, verified intact and recorded.
    pub adopted: u64,
    pub adopted_bytes: u64,
    /// Files without a row that did not match their CID: removed.
    pub orphans_removed: u64,
    /// Bytes the database records, and the store counts, afterwards.
    pub used_bytes: u64,
}

/// The texts a row for `cid` may have been written under: its own and its v0/v1 twin's.
pub(crate) fn row_texts(cid: &Cid) -> Vec<String> {
    let mut texts = vec![cid.to_string()];
    let twin = if cid.version() == cid::Version::V0 {
        Some(crate::blockstore::canonical(cid))
    } else if cid.codec() == crate::content::DAG_PB {
        Cid::new_v0(*cid.hash()).ok()
    } else {
        None
    };
    texts.extend(twin.map(|t| t.to_string()));
    texts
}

impl Content {
    /// Brings the store and the database into agreement (see the module docs). The daemon
    /// runs it before it serves anything: the store's count is reset from the database at the
    /// end, which is only exact when nothing else writes meanwhile. It holds the GC write lock,
    /// so no add or GC of this node runs beside it.
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let _exclusive = self.inner.gc_lock.write().await;
        let mut report = ReconcileReport::default();
        self.reconcile_rows(&mut report).await?;
        self.reconcile_files(&mut report).await?;
        let used = self.parts.db.used_bytes().await?;
        self.parts.store.recount(used);
        report.used_bytes = used;
        Ok(report)
    }

    /// Every row against its file.
    async fn reconcile_rows(&self, report: &mut ReconcileReport) -> Result<()> {
        let (db, store) = (&self.parts.db, &self.parts.store);
        let mut after: Option<String> = None;
        loop {
            let page = db.blocks_page(after.as_deref(), PAGE).await?;
            let Some((last, _, _)) = page.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            report.rows += page.len() as u64;
            let bad: Vec<(Cid, BlockStatus)> = futures::stream::iter(page)
                .map(|(_, cid, _)| async move { store.verify(&cid).await.map(|s| (cid, s)) })
                .buffer_unordered(PARALLEL)
                .try_filter(|(_, status)| std::future::ready(*status != BlockStatus::Intact))
                .try_collect()
                .await?;
            let mut forget = Vec::with_capacity(bad.len());
            for (cid, status) in bad {
                if status == BlockStatus::Corrupt {
                    store.delete(&cid).await?;
                }
                let pinned = self.referenced(&cid).await?;
                if pinned {
                    report.damaged += 1;
                } else {
                    report.rows_removed += 1;
                }
                tracing::warn!(
                    %cid, ?status, pinned,
                    "a recorded block is not intact in the store; its record is removed{}",
                    if pinned { " and its pin keeps it wanted for repair" } else { "" }
                );
                forget.push(cid);
            }
            db.forget_blocks(&forget).await?;
        }
    }

    /// Every file without a row: adopted if intact, removed if torn.
    async fn reconcile_files(&self, report: &mut ReconcileReport) -> Result<()> {
        let (db, store) = (&self.parts.db, &self.parts.store);
        let mut listed = store.list().chunks(PAGE);
        while let Some(chunk) = listed.next().await {
            let cids = chunk.into_iter().collect::<Result<Vec<Cid>, _>>()?;
            let texts: Vec<String> = cids.iter().flat_map(row_texts).collect();
            let recorded = db.recorded_among(&texts).await?;
            let orphans = cids
                .into_iter()
                .filter(|cid| !row_texts(cid).iter().any(|t| recorded.contains(t)));
            let outcomes: Vec<_> = futures::stream::iter(orphans)
                .map(|cid| async move { (cid, store.get(&cid).await) })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            let mut adopt = Vec::new();
            for (cid, outcome) in outcomes {
                match outcome {
                    Ok(Some(data)) => {
                        let len = data.len() as u64;
                        adopt.push((self.recorded_form(&cid).await?, len));
                        report.adopted += 1;
                        report.adopted_bytes += len;
                    }
                    // Removed since it was listed.
                    Ok(None) => {}
                    Err(BlockstoreError::Corrupt(_)) => {
                        tracing::warn!(%cid, "an unrecorded block file is torn; removed");
                        store.delete(&cid).await?;
                        report.orphans_removed += 1;
                    }
                    // A CID no put would have stored: not ours to judge or remove.
                    Err(BlockstoreError::Content(e)) => {
                        tracing::warn!(%cid, error = %e, "unexpected file in the block store left alone");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            db.record_blocks(&adopt).await?;
        }
        Ok(())
    }

    /// Whether a pin references the block under either of its CID texts.
    pub(super) async fn referenced(&self, cid: &Cid) -> Result<bool> {
        for text in row_texts(cid) {
            let Ok(form) = Cid::try_from(text.as_str()) else {
                continue;
            };
            if self.parts.db.is_referenced(&form).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The CID form to record an adopted block under: the one a pin references, if a pin
    /// names its twin, so pins and rows agree; else the store's canonical form.
    async fn recorded_form(&self, cid: &Cid) -> Result<Cid> {
        for text in row_texts(cid).into_iter().skip(1) {
            if let Ok(twin) = Cid::try_from(text.as_str()) {
                if self.parts.db.is_referenced(&twin).await? {
                    return Ok(twin);
                }
            }
        }
        Ok(*cid)
    }
}
