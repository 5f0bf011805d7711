//! Block storage: the [`Blockstore`] trait, its backends, and the [`Store`] a node runs on.
//!
//! Owns the bytes of blocks and nothing else: which blocks are wanted (pins, deals) lives in
//! the database. The parts:
//!
//! - [`Blockstore`]: the interface every backend implements.
//! - [`FsBlockstore`] (`fs.rs`): files under a directory, sharded as Kubo's flatfs.
//! - [`MemoryBlockstore`] (`memory.rs`): a map in RAM, for tests.
//! - [`S3Blockstore`] (`s3.rs`): one object per block in an S3-compatible bucket.
//! - [`Quota`] (`quota.rs`): the one place that holds the quota and the used-byte counter and
//!   serializes operations on one CID; backends do no accounting of their own.
//! - [`Store`] (`store.rs`): the backend chosen in config, behind the quota, as a cheap
//!   cloneable handle. The node, the network and the benches hold this.
//!
//! Invariants every backend keeps: a block is stored whole or not at all (a crash may leave a
//! torn copy, which reads report as corrupt and the next `put` of the block rewrites); a
//! verified read returns bytes that hash to the CID asked for, or an error; no path or key is
//! built from anything but a CID's own bytes; a CIDv0 and its CIDv1 dag-pb twin name the same
//! block (see [`canonical`]).

mod fs;
mod memory;
mod quota;
mod s3;
/// A real S3 server (s3s-fs on 127.0.0.1) for the tests of every backend.
#[cfg(test)]
#[path = "../../tests/support/s3_server.rs"]
pub(crate) mod s3_server;
mod store;

pub use fs::FsBlockstore;
pub use memory::MemoryBlockstore;
pub use quota::Quota;
pub use s3::{S3Blockstore, S3Config, S3Credentials};
pub use store::{Backend, BackendConfig, Store};

use std::future::Future;

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;

use crate::content::{Block, ContentError, DAG_PB};

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
    /// The object storage behind the `s3` backend failed: unreachable, refusing the
    /// credentials, without the bucket, or answering errors after the client's retries.
    #[error("object storage {location} failed{}: {source}", on_key(.key))]
    ObjectStore {
        /// `endpoint/bucket/prefix`.
        location: String,
        /// The object key asked for, empty if none.
        key: String,
        source: object_store::Error,
    },
    #[error(
        "the s3 block store needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials,
    #[error(transparent)]
    Content(#[from] ContentError),
}

fn on_key(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(" on {key}")
    }
}

pub type Result<T, E = BlockstoreError> = std::result::Result<T, E>;

/// What [`Blockstore::verify`] found under a CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockStatus {
    /// Present, and its bytes hash to the CID.
    Intact,
    /// Nothing stored under the CID.
    Missing,
    /// Something is stored under the CID but its bytes do not hash to it (a write torn by a
    /// crash, or damage at rest).
    Corrupt,
}

/// A content-addressed block store. Backends are shared behind [`Store`] (or an `Arc`).
pub trait Blockstore: Send + Sync + 'static {
    /// The verified bytes of `cid`, or `None` if absent; [`BlockstoreError::Corrupt`] if the
    /// stored bytes do not match.
    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Option<Bytes>>> + Send;
    /// Whether something is stored under `cid` (not verified: see [`Blockstore::verify`]).
    fn has(&self, cid: &Cid) -> impl Future<Output = Result<bool>> + Send;
    /// Stores a block. Returns `true` if nothing was stored under its CID before, `false` if
    /// it was already there. A stored copy that does not match the block's bytes (torn or
    /// damaged) is replaced atomically and `false` is returned: the block was there, only its
    /// bytes were wrong, so its size is already accounted for.
    fn put(&self, block: &Block) -> impl Future<Output = Result<bool>> + Send;
    /// Removes a block; returns the bytes it held (its stored length), or `None` if absent.
    fn delete(&self, cid: &Cid) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Makes every block written so far durable (fsync). Callers commit database rows that
    /// refer to blocks only after this returns.
    fn sync(&self) -> impl Future<Output = Result<()>> + Send;
    /// Hashes what is stored under `cid` against it. Errors only on I/O failure or a CID
    /// whose hash Cairn cannot compute.
    fn verify(&self, cid: &Cid) -> impl Future<Output = Result<BlockStatus>> + Send;
    /// Every CID stored, each once, in no particular order and in [`canonical`] form. The
    /// stream holds a bounded amount in memory however large the store (backends that keep
    /// everything in memory anyway may snapshot); it reflects puts and deletes made while it
    /// runs or not. Entries that do not name a block are skipped (and logged).
    fn list(&self) -> BoxStream<'static, Result<Cid>>;

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

/// The form a store keys a block by: CIDv1. A CIDv0 becomes its CIDv1 dag-pb twin (same
/// multihash), so both forms find one block.
pub fn canonical(cid: &Cid) -> Cid {
    if cid.version() == cid::Version::V0 {
        Cid::new_v1(DAG_PB, *cid.hash())
    } else {
        *cid
    }
}

/// Checks bytes read back from a store against the CID they were stored under.
fn check_stored(cid: &Cid, data: Bytes) -> Result<BlockStatus> {
    // A CID Cairn cannot hash is a bad question, not a corrupt block.
    crate::content::check_supported(cid)?;
    // With the CID supported, the only failures left are a hash mismatch and a size no block
    // can have: both mean the stored bytes are not the block.
    match Block::verified(*cid, data) {
        Ok(_) => Ok(BlockStatus::Intact),
        Err(_) => Ok(BlockStatus::Corrupt),
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
            Err(BlockstoreError::Corrupt(cid)) => Err(ContentError::Corrupt(cid)),
            Err(e @ BlockstoreError::ObjectStore { .. }) => {
                Err(ContentError::StoreUnavailable(e.to_string()))
            }
            Err(e) => Err(ContentError::Source(e.to_string())),
        }
    }

    async fn get_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Bytes, ContentError> {
        match self.0.read_range(cid, offset, len).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(ContentError::NotFound(*cid)),
            Err(e @ BlockstoreError::ObjectStore { .. }) => {
                Err(ContentError::StoreUnavailable(e.to_string()))
            }
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
    fn delete(&self, cid: &Cid) -> impl Future<Output = Result<Option<u64>>> + Send {
        (**self).delete(cid)
    }
    fn sync(&self) -> impl Future<Output = Result<()>> + Send {
        (**self).sync()
    }
    fn verify(&self, cid: &Cid) -> impl Future<Output = Result<BlockStatus>> + Send {
        (**self).verify(cid)
    }
    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        (**self).list()
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
