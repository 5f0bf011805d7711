//! An in-memory block store, for tests: the `memory` backend in config, and the store unit
//! tests of other modules use.
//!
//! Keyed by the [`canonical`] CID, as the fs store is, so a CIDv0 and its v1 twin find one
//! block. Everything it holds is lost when it is dropped. It does no accounting: the quota
//! and used bytes live in [`super::Quota`].

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::{canonical, check_stored, BlockStatus, Blockstore, BlockstoreError, Result};
use crate::content::Block;

#[derive(Debug, Default)]
pub struct MemoryBlockstore {
    blocks: Mutex<HashMap<Cid, Bytes>>,
}

impl MemoryBlockstore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Cid, Bytes>> {
        // A poisoned map still holds whole blocks: every insert is a single operation.
        self.blocks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores arbitrary bytes under a CID, as damage at rest would: for tests of corruption.
    #[cfg(test)]
    pub(crate) fn insert_unchecked(&self, cid: &Cid, data: impl Into<Bytes>) {
        self.lock().insert(canonical(cid), data.into());
    }
}

impl Blockstore for MemoryBlockstore {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        let Some(data) = self.lock().get(&canonical(cid)).cloned() else {
            return Ok(None);
        };
        // Checked like a read from disk, so a test that damages a block sees what it would
        // see on the fs store.
        match check_stored(cid, data.clone())? {
            BlockStatus::Intact => Ok(Some(data)),
            _ => Err(BlockstoreError::Corrupt(*cid)),
        }
    }

    async fn has(&self, cid: &Cid) -> Result<bool> {
        Ok(self.lock().contains_key(&canonical(cid)))
    }

    async fn put(&self, block: &Block) -> Result<bool> {
        let mut blocks = self.lock();
        let previous = blocks.insert(canonical(block.cid()), block.data().clone());
        Ok(previous.is_none())
    }

    async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
        let removed = self.lock().remove(&canonical(cid));
        Ok(removed.map(|data| data.len() as u64))
    }

    async fn sync(&self) -> Result<()> {
        Ok(())
    }

    async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
        crate::content::check_supported(cid)?;
        let data = self.lock().get(&canonical(cid)).cloned();
        match data {
            Some(data) => check_stored(cid, data),
            None => Ok(BlockStatus::Missing),
        }
    }

    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        // A snapshot of the keys: small beside the blocks this store already holds in memory.
        let cids: Vec<Cid> = self.lock().keys().copied().collect();
        futures::stream::iter(cids.into_iter().map(Ok)).boxed()
    }
}
