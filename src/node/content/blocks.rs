//! The node's block source: local first, then the network.

use std::time::Duration;

use bytes::Bytes;
use cid::Cid;

use super::Content;
use crate::blockstore::{Blockstore, BlockstoreError};
use crate::content::{Block, BlockGet, ContentError};

/// How long one block may take to arrive from the network.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Blocks fetched for reading are kept in memory, this many at most, so a `stat` followed by a
/// `cat` (or a directory listing followed by its files) does not fetch twice.
const RECENT: usize = 64;

/// Where reads come from. `keep` decides what happens to blocks fetched from the network:
/// kept in the store (pinning needs them there), or only passed through to the reader (a
/// gateway serving remote content must not fill the disk with data nobody pinned).
#[derive(Debug, Clone)]
pub struct NodeBlocks {
    pub(super) content: Content,
    pub(super) keep: bool,
}

/// Recently fetched blocks, newest last.
#[derive(Debug, Default)]
pub(super) struct Recent(std::sync::Mutex<std::collections::VecDeque<(Cid, Bytes)>>);

impl Recent {
    fn get(&self, cid: &Cid) -> Option<Bytes> {
        let recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .find(|(c, _)| c == cid)
            .map(|(_, data)| data.clone())
    }

    fn insert(&self, cid: Cid, data: Bytes) {
        let mut recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((cid, data));
    }
}

impl BlockGet for NodeBlocks {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, ContentError> {
        let content = &self.content;
        let source = |e: &dyn std::fmt::Display| ContentError::Source(e.to_string());
        // A torn or damaged local copy is as good as none: a peer may have the block (and a
        // kept fetch rewrites the copy). If none has it, the reader is told it is corrupt.
        let corrupt = match content.parts.store.get(cid).await {
            Ok(Some(data)) => return Ok(data),
            Ok(None) => false,
            Err(BlockstoreError::Corrupt(_)) => {
                tracing::warn!(%cid, "stored block is corrupt; asking peers for it");
                true
            }
            Err(e @ BlockstoreError::ObjectStore { .. }) => {
                return Err(ContentError::StoreUnavailable(e.to_string()))
            }
            Err(e) => return Err(source(&e)),
        };
        let not_found = || {
            if corrupt {
                ContentError::Corrupt(*cid)
            } else {
                ContentError::NotFound(*cid)
            }
        };
        if let Some(data) = content.inner.recent.get(cid).filter(|_| !self.keep) {
            return Ok(data);
        }
        let Some(net) = content.parts.net.running() else {
            return Err(not_found());
        };
        let data = net
            .get_block(*cid, FETCH_TIMEOUT)
            .await
            .map_err(|e| match e {
                crate::net::NetError::Bitswap(_) => not_found(),
                other => source(&other),
            })?;
        // Bitswap matched these bytes to `cid` by hashing them; hashing again would halve
        // the fetch rate for nothing.
        let block = Block::new_unchecked(*cid, data);
        if self.keep {
            content.keep_fetched(&block).await.map_err(|e| source(&e))?;
        } else {
            content.inner.recent.insert(*cid, block.data().clone());
        }
        Ok(block.into_parts().1)
    }
}

/// Fetched blocks are recorded in batches of this many, or at the next periodic flush.
const RECORD_BATCH: usize = 64;

impl Content {
    /// Keeps a block that came from the network, unpinned (a cache the next GC may clear).
    /// Its database row is written in a batch: one transaction and one fsync per batch, not
    /// per block. A crash before the batch lands leaves a file the database does not know
    /// (never a row without its file).
    async fn keep_fetched(&self, block: &Block) -> super::Result<()> {
        if !self.parts.store.put(block).await? {
            return Ok(());
        }
        let full = {
            let mut pending = self.inner.fetched.lock().unwrap_or_else(|p| p.into_inner());
            pending.push((*block.cid(), block.data().len() as u64));
            pending.len() >= RECORD_BATCH
        };
        if full {
            self.flush_fetched().await?;
        }
        Ok(())
    }

    /// Makes fetched blocks durable and records them. The daemon calls it every second. When
    /// it returns, every block fetched before the call is recorded, even one in a batch
    /// another flush was writing; a batch that failed to record is kept for the next flush.
    pub async fn flush_fetched(&self) -> super::Result<()> {
        let _one = self.inner.flushing.lock().await;
        let batch =
            std::mem::take(&mut *self.inner.fetched.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        let written = match self.parts.store.sync().await {
            Ok(()) => self
                .parts
                .db
                .record_blocks(&batch)
                .await
                .map(|_| ())
                .map_err(Into::into),
            Err(e) => Err(e.into()),
        };
        if written.is_err() {
            let mut pending = self.inner.fetched.lock().unwrap_or_else(|p| p.into_inner());
            pending.extend(batch);
        }
        written
    }
}
