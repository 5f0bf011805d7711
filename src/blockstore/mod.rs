//! Block storage: the [`Blockstore`] trait and its backends.
//!
//! Owns the bytes of blocks and nothing else: which blocks are wanted (pins, deals) and how many
//! bytes are in use live in the database. Invariants every backend keeps: a block is stored
//! whole or not at all, a read returns bytes that hash to the CID asked for (or an error), and
//! no path or key is built from anything but a CID's own bytes.

mod fs;
mod memory;

pub use fs::FsBlockstore;
pub use memory::MemoryBlockstore;

use std::future::Future;

use bytes::Bytes;
use cid::Cid;

use crate::content::{Block, ContentError};

#[derive(Debug, thiserror::Error)]
pub enum BlockstoreError {
    #[error("block store I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("stored block {0} is corrupt (its bytes no longer match the CID)")]
    Corrupt(Cid),
    #[error(
        "block store is full: {needed} more bytes needed, {available} available under the quota"
    )]
    Full { needed: u64, available: u64 },
    #[error(transparent)]
    Content(#[from] ContentError),
}

pub type Result<T, E = BlockstoreError> = std::result::Result<T, E>;

/// A content-addressed block store. Cheap to clone handles are expected (wrap in `Arc`).
pub trait Blockstore: Send + Sync + 'static {
    /// The verified bytes of `cid`, or `None` if absent.
    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Option<Bytes>>> + Send;
    fn has(&self, cid: &Cid) -> impl Future<Output = Result<bool>> + Send;
    /// Stores a block; returns `true` if it was not there before. Idempotent.
    fn put(&self, block: &Block) -> impl Future<Output = Result<bool>> + Send;
    /// Removes a block; returns `true` if it was there.
    fn delete(&self, cid: &Cid) -> impl Future<Output = Result<bool>> + Send;
    /// Makes every block written so far durable (fsync). Callers commit database rows that
    /// refer to blocks only after this returns.
    fn sync(&self) -> impl Future<Output = Result<()>> + Send;

    /// Up to `len` bytes of a block from `offset` (fewer if the block ends first),
    /// *unverified* (see `BlockGet::get_range`); `Ok(None)` if the block is absent. The
    /// default loads the whole block.
    fn read_range(
        &self,
        cid: &Cid,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        async move {
            let data = self.get(cid).await?;
            Ok(data.map(|data| crate::content::clamp_range(&data, offset, len)))
        }
    }
}

/// Reads through a [`Blockstore`] as a [`crate::content::BlockGet`]: local blocks only, so a
/// missing block is an error rather than a network fetch.
#[derive(Debug, Clone)]
pub struct LocalBlocks<S>(pub S);

impl<S: Blockstore> crate::content::BlockGet for LocalBlocks<S> {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, ContentError> {
        match self.0.get(cid).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(ContentError::NotFound(*cid)),
            Err(e) => Err(ContentError::Source(e.to_string())),
        }
    }

    async fn get_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Bytes, ContentError> {
        match self.0.read_range(cid, offset, len).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(ContentError::NotFound(*cid)),
            Err(e) => Err(ContentError::Source(e.to_string())),
        }
    }
}

impl<S: Blockstore> Blockstore for std::sync::Arc<S> {
    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        (**self).get(cid)
    }
    fn has(&self, cid: &Cid) -> impl Future<Output = Result<bool>> + Send {
        (**self).has(cid)
    }
    fn put(&self, block: &Block) -> impl Future<Output = Result<bool>> + Send {
        (**self).put(block)
    }
    fn delete(&self, cid: &Cid) -> impl Future<Output = Result<bool>> + Send {
        (**self).delete(cid)
    }
    fn sync(&self) -> impl Future<Output = Result<()>> + Send {
        (**self).sync()
    }
    fn read_range(
        &self,
        cid: &Cid,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        (**self).read_range(cid, offset, len)
    }
}
