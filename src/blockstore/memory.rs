//! An in-memory block store for tests and `--only-hash` style dry runs.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use cid::Cid;

use super::{Blockstore, Result};
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
}

impl Blockstore for MemoryBlockstore {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        Ok(self.lock().get(cid).cloned())
    }

    async fn has(&self, cid: &Cid) -> Result<bool> {
        Ok(self.lock().contains_key(cid))
    }

    async fn put(&self, block: &Block) -> Result<bool> {
        Ok(self
            .lock()
            .insert(*block.cid(), block.data().clone())
            .is_none())
    }

    async fn delete(&self, cid: &Cid) -> Result<bool> {
        Ok(self.lock().remove(cid).is_some())
    }

    async fn sync(&self) -> Result<()> {
        Ok(())
    }
}
