//! Adding content: one session per upload, holding the GC read lock from the first block to
//! the pin. A session that fails removes the blocks it newly wrote (unless a pin that landed
//! meanwhile references them), so an interrupted upload leaves nothing behind. When that
//! removal fails too (object storage that went away mid-add), the blocks stay stored without a
//! row (but counted by the store, which holds them); a later add that finds such a block
//! already stored records it then, so a retried add ends with every block of its DAG recorded
//! and the count equal to the rows' sum again.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use cid::Cid;
use futures::{Stream, StreamExt};
use tokio::sync::RwLockReadGuard;

use super::reconcile::row_texts;
use super::Content;
use crate::blockstore::Blockstore;
use crate::content::importer::{DirectoryBuilder, FileImporter};
use crate::content::profile::ImportOptions;
use crate::content::Block;
use crate::node::{NodeError, Refusal, Result};

/// What an add produced: the root, the file bytes it covers, and the total bytes of its DAG
/// (the `Tsize` a parent directory records for it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddedEntry {
    #[serde(serialize_with = "crate::content::cid_text::serialize")]
    pub cid: Cid,
    pub size: u64,
    pub dag_size: u64,
}

pub struct AddSession<'a> {
    content: &'a Content,
    options: ImportOptions,
    only_hash: bool,
    /// Blocks this session wrote that were not in the store before, with their sizes.
    new_blocks: Vec<(Cid, u64)>,
    /// Blocks this session found already stored, with their sizes: each has a row, or is an
    /// orphan of an earlier add that failed, which this one records.
    present_blocks: Vec<(Cid, u64)>,
    /// Every block of the DAGs added: the references the pin records.
    refs: HashSet<Cid>,
    _gc_guard: RwLockReadGuard<'a, ()>,
}

impl Content {
    /// Starts an add. With `only_hash` nothing is written: CIDs are computed and discarded.
    pub async fn add_session(&self, options: ImportOptions, only_hash: bool) -> AddSession<'_> {
        AddSession {
            _gc_guard: self.inner.gc_lock.read().await,
            content: self,
            options,
            only_hash,
            new_blocks: Vec::new(),
            present_blocks: Vec::new(),
            refs: HashSet::new(),
        }
    }
}

impl AddSession<'_> {
    async fn put_blocks(&mut self, blocks: Vec<Block>) -> Result<u64> {
        let mut bytes = 0;
        for block in blocks {
            let len = block.data().len() as u64;
            bytes += len;
            if self.only_hash {
                continue;
            }
            self.refs.insert(*block.cid());
            if self.content.parts.store.put(&block).await? {
                self.new_blocks.push((*block.cid(), len));
            } else {
                self.present_blocks.push((*block.cid(), len));
            }
        }
        Ok(bytes)
    }

    /// Imports one file from a stream of chunks.
    pub async fn add_file<S, E>(&mut self, mut chunks: S) -> Result<AddedEntry>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut importer = FileImporter::new(self.options.clone())?;
        let mut dag_size = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| NodeError::Interrupted(e.to_string()))?;
            let blocks = importer.write(&chunk);
            dag_size += self.put_blocks(blocks).await?;
        }
        let (blocks, file) = importer.finish()?;
        dag_size += self.put_blocks(blocks).await?;
        Ok(AddedEntry {
            cid: file.cid,
            size: file.size,
            dag_size,
        })
    }

    /// Builds a directory node (basic or HAMT-sharded per the profile) over named entries.
    pub async fn add_directory(
        &mut self,
        entries: &BTreeMap<String, AddedEntry>,
    ) -> Result<AddedEntry> {
        let mut builder = DirectoryBuilder::new(self.options.clone());
        let (mut size, mut children) = (0u64, 0u64);
        for (name, entry) in entries {
            builder.add(name, entry.cid, entry.dag_size)?;
            size += entry.size;
            children += entry.dag_size;
        }
        let (blocks, cid) = builder.finish()?;
        let own = self.put_blocks(blocks).await?;
        Ok(AddedEntry {
            cid,
            size,
            dag_size: own + children,
        })
    }

    /// Stores one block that arrived already verified (CAR import, network fetch).
    pub async fn put_block(&mut self, block: Block) -> Result<()> {
        self.put_blocks(vec![block]).await.map(|_| ())
    }

    /// Makes the session's blocks durable, records them, and pins `root` if asked.
    pub async fn commit(self, root: &Cid, pin: bool, name: Option<&str>) -> Result<()> {
        let pins = if pin {
            vec![(*root, self.refs.iter().copied().collect())]
        } else {
            Vec::new()
        };
        self.finish(pins, name).await
    }

    /// Like [`AddSession::commit`] for several roots (a CAR's): each root's DAG must be
    /// complete in the store, and each pin records its own DAG's blocks.
    pub async fn commit_roots(self, roots: &[Cid], pin: bool) -> Result<()> {
        let mut pins = Vec::new();
        for root in roots {
            match self.content.dag_blocks(root).await {
                Ok(refs) if pin => pins.push((*root, refs)),
                Ok(_) => {}
                Err(e) => {
                    self.rollback().await;
                    return Err(NodeError::refuse(
                        Refusal::IncompleteDag,
                        format!("incomplete DAG under root {root}: {e}"),
                    ));
                }
            }
        }
        self.finish(pins, None).await
    }

    async fn finish(mut self, pins: Vec<(Cid, Vec<Cid>)>, name: Option<&str>) -> Result<()> {
        if self.only_hash {
            return Ok(());
        }
        let outcome = self.persist(&pins, name).await;
        if outcome.is_err() {
            self.rollback().await;
        }
        outcome
    }

    async fn persist(&mut self, pins: &[(Cid, Vec<Cid>)], name: Option<&str>) -> Result<()> {
        self.content.parts.store.sync().await?;
        let db = &self.content.parts.db;
        db.record_blocks(&self.new_blocks).await?;
        // Stored but without a row under either of its CID texts: an orphan, adopted here.
        let texts: Vec<String> = self
            .present_blocks
            .iter()
            .flat_map(|(c, _)| row_texts(c))
            .collect();
        let recorded = db.recorded_among(&texts).await?;
        let orphans: Vec<(Cid, u64)> = self
            .present_blocks
            .iter()
            .filter(|(cid, _)| !row_texts(cid).iter().any(|t| recorded.contains(t)))
            .copied()
            .collect();
        // Not counted again: the store counted each when its put stored it (the count starts
        // at start-up from a reconciled store, where every stored block has a row).
        db.record_blocks(&orphans).await?;
        for (root, refs) in pins {
            db.add_pin(root, name, refs).await?;
        }
        Ok(())
    }

    /// Removes what this session newly wrote. Waits for the GC write lock so that no other
    /// add is between writing a shared block and pinning it; blocks a pin now references stay.
    pub async fn rollback(self) {
        let AddSession {
            content,
            new_blocks,
            _gc_guard,
            ..
        } = self;
        drop(_gc_guard);
        let _exclusive = content.inner.gc_lock.write().await;
        for (cid, _) in new_blocks {
            if let Err(e) = content.remove_if_unreferenced(&cid).await {
                tracing::warn!(%cid, error = %e, "could not roll back block of a failed add");
            }
        }
    }
}
