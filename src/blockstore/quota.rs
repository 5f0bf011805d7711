//! The quota and the used-byte counter, shared by every backend.
//!
//! [`Quota`] wraps a backend and owns two things no backend keeps: the cap on block bytes and
//! the count of bytes in use. The count starts from the database's total (the record of what
//! the store holds) and then moves only here: up by a block's length when a `put` stores a
//! block that was not there, down by the stored length when a `delete` removes one.
//!
//! Invariants:
//! - The count never goes past the quota: room is reserved before a new block is written and
//!   given back if the write fails or finds the block already there.
//! - Operations on one CID are serialized (a fixed set of lock stripes, picked by the CID's
//!   digest), so two concurrent puts of the same new block count it once and a put and a
//!   delete of it cannot interleave. Different CIDs proceed in parallel.
//! - A put of a block already stored intact needs no room and succeeds at a full quota; a put
//!   that rewrites a torn copy needs no room either (the block is already counted).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;
use tokio::sync::{Mutex, MutexGuard};

use super::{canonical, BlockStatus, Blockstore, BlockstoreError, Result};
use crate::content::Block;

/// Lock stripes: enough that unrelated blocks rarely wait on each other, few enough to keep
/// the wrapper small.
const STRIPES: usize = 64;

#[derive(Debug)]
pub struct Quota<S> {
    inner: S,
    /// Cap on block bytes; `None` is unlimited.
    limit: Option<u64>,
    /// Bytes of block data held, as accounted since open.
    used: AtomicU64,
    /// Per-CID serialization of put and delete (see the module docs).
    stripes: [Mutex<()>; STRIPES],
}

impl<S: Blockstore> Quota<S> {
    /// Wraps `inner`; `used_bytes` is what the database records the store as holding.
    pub fn new(inner: S, limit: Option<u64>, used_bytes: u64) -> Self {
        Quota {
            inner,
            limit,
            used: AtomicU64::new(used_bytes),
            stripes: std::array::from_fn(|_| Mutex::new(())),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Bytes of block data held, as accounted since open.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Sets the count to a fresh total of what the database records. Only for a moment when
    /// nothing else writes (the start-up reconcile, before the node serves): a put or delete
    /// running meanwhile would be lost from the count.
    pub fn recount(&self, used_bytes: u64) {
        self.used.store(used_bytes, Ordering::Release);
    }

    async fn lock(&self, cid: &Cid) -> MutexGuard<'_, ()> {
        // The canonical form, so a CIDv0 and its v1 twin share a stripe.
        let cid = canonical(cid);
        let last = cid.hash().digest().last().copied().unwrap_or(0);
        self.stripes[usize::from(last) % STRIPES].lock().await
    }

    fn reserve(&self, len: u64) -> Result<()> {
        let limit = self.limit.unwrap_or(u64::MAX);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|total| *total <= limit)
            })
            .map(|_| ())
            .map_err(|used| BlockstoreError::Full {
                needed: len,
                available: limit.saturating_sub(used),
            })
    }

    fn release(&self, len: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(len))
            });
    }
}

impl<S: Blockstore> Quota<S> {
    /// Removes a block the database records with `recorded` bytes, and takes those bytes off
    /// the count whatever is stored: a torn copy's length is not what was counted, and a lost
    /// copy was counted too. Returns the stored length, if anything was stored.
    pub async fn delete_recorded(&self, cid: &Cid, recorded: u64) -> Result<Option<u64>> {
        let _guard = self.lock(cid).await;
        let removed = self.inner.delete(cid).await?;
        self.release(recorded);
        Ok(removed)
    }
}

impl<S: Blockstore> Blockstore for Quota<S> {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        self.inner.get(cid).await
    }

    async fn has(&self, cid: &Cid) -> Result<bool> {
        self.inner.has(cid).await
    }

    async fn put(&self, block: &Block) -> Result<bool> {
        let _guard = self.lock(block.cid()).await;
        let len = block.data().len() as u64;
        match self.inner.verify(block.cid()).await? {
            BlockStatus::Intact => Ok(false),
            BlockStatus::Corrupt => {
                let new = self.inner.put(block).await?;
                if new {
                    // The torn copy vanished behind the store's back between the check and
                    // the write: the block is new after all, and already written.
                    self.used.fetch_add(len, Ordering::AcqRel);
                }
                Ok(new)
            }
            BlockStatus::Missing => {
                self.reserve(len)?;
                match self.inner.put(block).await {
                    Ok(true) => Ok(true),
                    Ok(false) => {
                        self.release(len);
                        Ok(false)
                    }
                    Err(e) => {
                        self.release(len);
                        Err(e)
                    }
                }
            }
        }
    }

    async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
        let _guard = self.lock(cid).await;
        let removed = self.inner.delete(cid).await?;
        if let Some(len) = removed {
            self.release(len);
        }
        Ok(removed)
    }

    async fn sync(&self) -> Result<()> {
        self.inner.sync().await
    }

    async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
        self.inner.verify(cid).await
    }

    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        self.inner.list()
    }

    async fn read_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Option<Bytes>> {
        self.inner.read_range(cid, offset, len).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::blockstore::MemoryBlockstore;
    use crate::content::{HashAlg, RAW};

    /// A backend whose put checks, yields, then writes, as a real store's check-then-write
    /// does across its I/O: without the wrapper's per-CID lock, two puts of one block both
    /// see it absent and both report it new.
    #[derive(Default)]
    struct CheckThenWrite {
        blocks: MemoryBlockstore,
        puts_in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Blockstore for CheckThenWrite {
        async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
            self.blocks.get(cid).await
        }
        async fn has(&self, cid: &Cid) -> Result<bool> {
            self.blocks.has(cid).await
        }
        async fn put(&self, block: &Block) -> Result<bool> {
            let now = self.puts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            let had = self.blocks.has(block.cid()).await?;
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            self.blocks.put(block).await?;
            self.puts_in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(!had)
        }
        async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
            self.blocks.delete(cid).await
        }
        async fn sync(&self) -> Result<()> {
            Ok(())
        }
        async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
            self.blocks.verify(cid).await
        }
        fn list(&self) -> BoxStream<'static, Result<Cid>> {
            self.blocks.list()
        }
    }

    #[tokio::test]
    async fn puts_of_one_cid_are_serialized_and_counted_once() {
        let quota = std::sync::Arc::new(Quota::new(CheckThenWrite::default(), None, 0));
        let block = Block::encode(RAW, HashAlg::Sha2_256, vec![5u8; 300]);
        let puts: Vec<_> = (0..4)
            .map(|_| {
                let (quota, block) = (quota.clone(), block.clone());
                tokio::spawn(async move { quota.put(&block).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for put in puts {
            new += usize::from(put.await.unwrap());
        }
        assert_eq!(new, 1);
        assert_eq!(quota.used_bytes(), 300);
        assert_eq!(quota.inner().most_in_flight.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn puts_of_different_cids_do_not_wait_for_each_other() {
        let quota = std::sync::Arc::new(Quota::new(CheckThenWrite::default(), Some(1000), 0));
        // Two blocks on different stripes (the last digest byte picks the stripe).
        let stripe = |b: &Block| usize::from(b.cid().hash().digest()[31]) % STRIPES;
        let make = |i: u32| Block::encode(RAW, HashAlg::Sha2_256, i.to_le_bytes().to_vec());
        let first = make(0);
        let second = (1u32..)
            .map(make)
            .find(|b| stripe(b) != stripe(&first))
            .unwrap();
        let blocks = [first, second];
        let puts: Vec<_> = blocks
            .iter()
            .map(|b| {
                let (quota, block) = (quota.clone(), b.clone());
                tokio::spawn(async move { quota.put(&block).await.unwrap() })
            })
            .collect();
        for put in puts {
            assert!(put.await.unwrap());
        }
        assert_eq!(quota.inner().most_in_flight.load(Ordering::SeqCst), 2);
        assert_eq!(quota.used_bytes(), 8);
    }
}
