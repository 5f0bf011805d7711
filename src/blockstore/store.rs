//! The block store a node runs on: one backend, chosen in config at start, behind the quota.
//!
//! [`Store`] is a cheap cloneable handle (an `Arc`) over [`Quota`]`<`[`Backend`]`>`. Every
//! part of the node that touches blocks holds a `Store`, so every write goes through the one
//! quota and used-byte counter whatever the backend. A backend is a [`Backend`] variant and a
//! [`BackendConfig`] variant (`fs`, `memory`, `s3`); nothing above this module changes.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;

use super::{
    BlockStatus, Blockstore, FsBlockstore, MemoryBlockstore, Quota, Result, S3Blockstore, S3Config,
};
use crate::content::Block;

/// Which backend to open, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// Files under `root` (by default the data dir's `blocks/`).
    Fs { root: PathBuf },
    /// In memory, lost at exit: for tests.
    Memory,
    /// One object per block in an S3-compatible bucket.
    S3(S3Config),
}

/// The backends a [`Store`] can run on.
#[derive(Debug)]
pub enum Backend {
    Fs(FsBlockstore),
    Memory(MemoryBlockstore),
    S3(S3Blockstore),
}

impl Backend {
    pub fn open(config: &BackendConfig) -> Result<Self> {
        Ok(match config {
            BackendConfig::Fs { root } => Backend::Fs(FsBlockstore::open(root.clone())?),
            BackendConfig::Memory => Backend::Memory(MemoryBlockstore::new()),
            BackendConfig::S3(config) => Backend::S3(S3Blockstore::open(config)?),
        })
    }

    /// Checks that the backend answers (for `s3`, that the bucket lists): a node runs it at
    /// start and refuses to start on a store it cannot reach.
    pub async fn probe(&self) -> Result<()> {
        match self {
            Backend::Fs(_) | Backend::Memory(_) => Ok(()),
            Backend::S3(s) => s.probe().await,
        }
    }

    /// The backend's name as config spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Fs(_) => "fs",
            Backend::Memory(_) => "memory",
            Backend::S3(_) => "s3",
        }
    }
}

impl Blockstore for Backend {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        match self {
            Backend::Fs(s) => s.get(cid).await,
            Backend::Memory(s) => s.get(cid).await,
            Backend::S3(s) => s.get(cid).await,
        }
    }
    async fn has(&self, cid: &Cid) -> Result<bool> {
        match self {
            Backend::Fs(s) => s.has(cid).await,
            Backend::Memory(s) => s.has(cid).await,
            Backend::S3(s) => s.has(cid).await,
        }
    }
    async fn put(&self, block: &Block) -> Result<bool> {
        match self {
            Backend::Fs(s) => s.put(block).await,
            Backend::Memory(s) => s.put(block).await,
            Backend::S3(s) => s.put(block).await,
        }
    }
    async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
        match self {
            Backend::Fs(s) => s.delete(cid).await,
            Backend::Memory(s) => s.delete(cid).await,
            Backend::S3(s) => s.delete(cid).await,
        }
    }
    async fn sync(&self) -> Result<()> {
        match self {
            Backend::Fs(s) => s.sync().await,
            Backend::Memory(s) => s.sync().await,
            Backend::S3(s) => s.sync().await,
        }
    }
    async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
        match self {
            Backend::Fs(s) => s.verify(cid).await,
            Backend::Memory(s) => s.verify(cid).await,
            Backend::S3(s) => s.verify(cid).await,
        }
    }
    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        match self {
            Backend::Fs(s) => s.list(),
            Backend::Memory(s) => s.list(),
            Backend::S3(s) => s.list(),
        }
    }
    async fn read_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Option<Bytes>> {
        match self {
            Backend::Fs(s) => s.read_range(cid, offset, len).await,
            Backend::Memory(s) => s.read_range(cid, offset, len).await,
            Backend::S3(s) => s.read_range(cid, offset, len).await,
        }
    }
}

/// The node's block store: a backend behind the quota, shared by cloning.
#[derive(Debug, Clone)]
pub struct Store(Arc<Quota<Backend>>);

impl Store {
    /// Opens the configured backend. `used_bytes` is the database's total of recorded blocks;
    /// `quota` caps it.
    pub fn open(config: &BackendConfig, quota: Option<u64>, used_bytes: u64) -> Result<Self> {
        Ok(Self::new(Backend::open(config)?, quota, used_bytes))
    }

    pub fn new(backend: Backend, quota: Option<u64>, used_bytes: u64) -> Self {
        Store(Arc::new(Quota::new(backend, quota, used_bytes)))
    }

    /// An empty in-memory store with no quota: for tests.
    pub fn memory() -> Self {
        Self::new(Backend::Memory(MemoryBlockstore::new()), None, 0)
    }

    /// Bytes of block data held, as accounted since open.
    pub fn used_bytes(&self) -> u64 {
        self.0.used_bytes()
    }

    /// See [`Quota::delete_recorded`].
    pub async fn delete_recorded(&self, cid: &Cid, recorded: u64) -> Result<Option<u64>> {
        self.0.delete_recorded(cid, recorded).await
    }

    /// See [`Quota::recount`].
    pub fn recount(&self, used_bytes: u64) {
        self.0.recount(used_bytes)
    }

    pub fn quota(&self) -> Option<u64> {
        self.0.limit()
    }

    pub fn backend(&self) -> &Backend {
        self.0.inner()
    }

    /// See [`Backend::probe`].
    pub async fn probe(&self) -> Result<()> {
        self.0.inner().probe().await
    }
}

impl Blockstore for Store {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        self.0.get(cid).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool> {
        self.0.has(cid).await
    }
    async fn put(&self, block: &Block) -> Result<bool> {
        self.0.put(block).await
    }
    async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
        self.0.delete(cid).await
    }
    async fn sync(&self) -> Result<()> {
        self.0.sync().await
    }
    async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
        self.0.verify(cid).await
    }
    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        self.0.list()
    }
    async fn read_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Option<Bytes>> {
        self.0.read_range(cid, offset, len).await
    }
}

#[cfg(test)]
mod tests {
    //! Each body runs against every backend (see `every_backend!` at the end).
    use std::collections::BTreeSet;

    use futures::TryStreamExt;

    use super::*;
    use crate::blockstore::{canonical, BlockstoreError};
    use crate::content::{ContentError, HashAlg, DAG_PB, RAW};

    use crate::blockstore::s3_server::S3Server;
    use object_store::ObjectStoreExt;

    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Fs,
        Memory,
        S3,
    }

    /// A store on one backend, and what must outlive it: an fs store's temp dir, an s3
    /// store's server.
    struct Harness {
        store: Store,
        _dir: Option<tempfile::TempDir>,
        _server: Option<S3Server>,
    }

    impl Harness {
        async fn open(kind: Kind, quota: Option<u64>, used: u64) -> Self {
            let (config, dir, server) = match kind {
                Kind::Fs => {
                    let dir = tempfile::tempdir().unwrap();
                    let root = dir.path().join("blocks");
                    (BackendConfig::Fs { root }, Some(dir), None)
                }
                Kind::Memory => (BackendConfig::Memory, None, None),
                Kind::S3 => {
                    let server = S3Server::start();
                    (BackendConfig::S3(server.config("node")), None, Some(server))
                }
            };
            let store = Store::open(&config, quota, used).unwrap();
            store.probe().await.unwrap();
            Harness {
                store,
                _dir: dir,
                _server: server,
            }
        }

        /// Overwrites what is stored under `cid`, as a torn write or damage at rest would.
        async fn damage(&self, cid: &Cid, bytes: &[u8]) {
            match self.store.backend() {
                Backend::Fs(fs) => std::fs::write(fs.path_of(cid), bytes).unwrap(),
                Backend::Memory(memory) => memory.insert_unchecked(cid, bytes.to_vec()),
                Backend::S3(s3) => {
                    let payload = object_store::PutPayload::from(bytes.to_vec());
                    s3.client().put(&s3.key_of(cid), payload).await.unwrap();
                }
            }
        }
    }

    fn block(bytes: &[u8]) -> Block {
        Block::encode(RAW, HashAlg::Sha2_256, bytes.to_vec())
    }

    async fn listed(store: &Store) -> BTreeSet<Cid> {
        store.list().try_collect().await.unwrap()
    }

    async fn quota_counts_exactly_and_refuses_past_the_limit(kind: Kind) {
        // 4 bytes already recorded in the database when the store opens.
        let h = Harness::open(kind, Some(20), 4).await;
        let s = &h.store;
        assert_eq!((s.used_bytes(), s.quota()), (4, Some(20)));
        let a = block(b"12345");
        assert!(s.put(&a).await.unwrap());
        assert_eq!(s.used_bytes(), 9);
        assert!(!s.put(&a).await.unwrap(), "a second put is a no-op");
        assert_eq!(s.used_bytes(), 9, "and counts nothing");

        let big = block(&[7; 12]);
        assert!(matches!(
            s.put(&big).await,
            Err(BlockstoreError::Full {
                needed: 12,
                available: 11
            })
        ));
        assert!(!s.has(big.cid()).await.unwrap(), "nothing of it is kept");
        assert_eq!(s.used_bytes(), 9);

        let fill = block(&[1; 11]);
        assert!(s.put(&fill).await.unwrap());
        assert_eq!(s.used_bytes(), 20);
        assert!(
            !s.put(&a).await.unwrap(),
            "at the limit, a block already there is still a no-op, not Full"
        );
        let one = block(b"x");
        assert!(matches!(
            s.put(&one).await,
            Err(BlockstoreError::Full {
                needed: 1,
                available: 0
            })
        ));

        assert_eq!(s.delete(a.cid()).await.unwrap(), Some(5));
        assert_eq!(s.used_bytes(), 15, "a delete gives back exactly the block");
        assert_eq!(s.delete(a.cid()).await.unwrap(), None);
        assert_eq!(
            s.used_bytes(),
            15,
            "deleting what is absent gives back nothing"
        );
        assert!(s.put(&one).await.unwrap(), "the room freed is usable");
        assert_eq!(s.used_bytes(), 16);
        assert!(s.get(a.cid()).await.unwrap().is_none());
        assert_eq!(listed(s).await, BTreeSet::from([*fill.cid(), *one.cid()]));
    }

    async fn concurrent_puts_of_one_block_count_it_once(kind: Kind) {
        let h = Harness::open(kind, None, 0).await;
        let b = block(&vec![3; 1 << 20]);
        let puts: Vec<_> = (0..16)
            .map(|_| {
                let (store, b) = (h.store.clone(), b.clone());
                tokio::spawn(async move { store.put(&b).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for put in puts {
            new += usize::from(put.await.unwrap());
        }
        assert_eq!(new, 1, "exactly one put stored it");
        assert_eq!(h.store.used_bytes(), 1 << 20);
        assert_eq!(h.store.delete(b.cid()).await.unwrap(), Some(1 << 20));
        assert_eq!(h.store.used_bytes(), 0);
    }

    async fn listing_returns_exactly_the_stored_cids(kind: Kind) {
        let h = Harness::open(kind, None, 0).await;
        let s = &h.store;
        assert!(listed(s).await.is_empty());
        let blocks: Vec<Block> = (0..10u8).map(|i| block(&[i; 64])).collect();
        for b in &blocks {
            s.put(b).await.unwrap();
        }
        for b in &blocks[..3] {
            s.delete(b.cid()).await.unwrap();
        }
        // A CIDv0 block is listed as its CIDv1 twin.
        let node = Block::encode(DAG_PB, HashAlg::Sha2_256, &b"\x0a\x02\x08\x01"[..]);
        let v0 = Cid::new_v0(*node.cid().hash()).unwrap();
        s.put(&Block::verified(v0, node.data().clone()).unwrap())
            .await
            .unwrap();
        assert!(s.has(node.cid()).await.unwrap(), "found by its v1 twin");

        let mut expected: BTreeSet<Cid> = blocks[3..].iter().map(|b| *b.cid()).collect();
        expected.insert(canonical(&v0));
        assert_eq!(listed(s).await, expected);
    }

    async fn a_damaged_block_is_reported_and_rewritten_by_the_next_put(kind: Kind) {
        let b = block(b"a block that will be damaged");
        let len = b.data().len();
        // Exactly full: the repair must not need room, the block is already counted.
        let h = Harness::open(kind, Some(len as u64), 0).await;
        let s = &h.store;
        let truncated = b.data()[..len / 2].to_vec();
        let mut flipped = b.data().to_vec();
        flipped[0] ^= 1;
        for damaged in [truncated, flipped, Vec::new()] {
            assert!(s.put(&b).await.unwrap() || s.used_bytes() == len as u64);
            s.sync().await.unwrap();
            h.damage(b.cid(), &damaged).await;
            assert_eq!(s.verify(b.cid()).await.unwrap(), BlockStatus::Corrupt);
            assert!(matches!(
                s.get(b.cid()).await,
                Err(BlockstoreError::Corrupt(c)) if c == *b.cid()
            ));

            assert!(!s.put(&b).await.unwrap(), "there already, only torn");
            assert_eq!(s.verify(b.cid()).await.unwrap(), BlockStatus::Intact);
            assert_eq!(s.get(b.cid()).await.unwrap().unwrap(), b.data());
            assert_eq!(s.used_bytes(), len as u64, "counted once throughout");
            assert_eq!(listed(s).await, BTreeSet::from([*b.cid()]));
        }
    }

    async fn verify_tells_missing_from_intact_and_refuses_unsupported_cids(kind: Kind) {
        let h = Harness::open(kind, None, 0).await;
        let s = &h.store;
        let b = block(b"present");
        assert_eq!(s.verify(b.cid()).await.unwrap(), BlockStatus::Missing);
        s.put(&b).await.unwrap();
        assert_eq!(s.verify(b.cid()).await.unwrap(), BlockStatus::Intact);

        // dag-json: a codec Cairn does not decode, so no block of it is kept or checked.
        let odd = Block::encode(0x0129, HashAlg::Sha2_256, &b"{}"[..]);
        assert!(matches!(
            s.verify(odd.cid()).await,
            Err(BlockstoreError::Content(ContentError::UnsupportedCodec(
                0x0129
            )))
        ));
        assert!(matches!(
            s.put(&odd).await,
            Err(BlockstoreError::Content(ContentError::UnsupportedCodec(
                0x0129
            )))
        ));
        assert!(!s.has(odd.cid()).await.unwrap());
        assert_eq!(s.used_bytes(), 7, "the refused put counted nothing");
    }

    async fn ranges_read_what_is_asked_and_nothing_past_the_end(kind: Kind) {
        let h = Harness::open(kind, None, 0).await;
        let s = &h.store;
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let b = block(&data);
        assert_eq!(s.read_range(b.cid(), 0, 10).await.unwrap(), None, "absent");
        s.put(&b).await.unwrap();
        for (offset, len) in [(0, 10), (4990, 10), (4990, 100), (1234, 0), (0, 5000)] {
            let got = s.read_range(b.cid(), offset, len).await.unwrap().unwrap();
            let start = offset as usize;
            assert_eq!(
                &got[..],
                &data[start..(start + len).min(5000)],
                "{offset}+{len}"
            );
        }
        for offset in [5000, 5001, 1 << 40] {
            let got = s.read_range(b.cid(), offset, 10).await.unwrap().unwrap();
            assert!(got.is_empty(), "from {offset}");
        }
    }

    macro_rules! every_backend {
        ($($body:ident),* $(,)?) => {
            mod fs_backend {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $body() {
                        super::$body(super::Kind::Fs).await
                    }
                )*
            }
            mod memory_backend {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $body() {
                        super::$body(super::Kind::Memory).await
                    }
                )*
            }
            mod s3_backend {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $body() {
                        super::$body(super::Kind::S3).await
                    }
                )*
            }
        };
    }

    every_backend!(
        quota_counts_exactly_and_refuses_past_the_limit,
        concurrent_puts_of_one_block_count_it_once,
        listing_returns_exactly_the_stored_cids,
        a_damaged_block_is_reported_and_rewritten_by_the_next_put,
        verify_tells_missing_from_intact_and_refuses_unsupported_cids,
        ranges_read_what_is_asked_and_nothing_past_the_end,
    );

    #[tokio::test]
    async fn a_failed_write_gives_its_room_back_and_leaves_no_temp_file() {
        let h = Harness::open(Kind::Fs, Some(100), 0).await;
        let Backend::Fs(fs) = h.store.backend() else {
            unreachable!()
        };
        let b = block(b"cannot be written");
        // A file where the block's shard directory should be: the rename cannot happen.
        let shard = fs.path_of(b.cid()).parent().unwrap().to_path_buf();
        std::fs::write(&shard, b"in the way").unwrap();
        assert!(matches!(
            h.store.put(&b).await,
            Err(BlockstoreError::Io { .. })
        ));
        assert_eq!(h.store.used_bytes(), 0);
        assert_eq!(
            std::fs::read_dir(fs.root().join(".tmp")).unwrap().count(),
            0
        );
        std::fs::remove_file(&shard).unwrap();
        assert!(h.store.put(&b).await.unwrap());
        assert_eq!(h.store.used_bytes(), b.data().len() as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_s3_store_that_goes_away_fails_its_puts_counts_nothing_and_works_when_back() {
        let mut server = S3Server::start();
        let store = Store::open(&BackendConfig::S3(server.config("")), Some(100), 0).unwrap();
        store.probe().await.unwrap();
        let a = block(b"before");
        assert!(store.put(&a).await.unwrap());
        server.stop().await;

        let b = block(b"during");
        let location = format!(
            "{}/{}",
            server.endpoint(),
            crate::blockstore::s3_server::BUCKET
        );
        for err in [
            store.probe().await.unwrap_err(),
            store.put(&b).await.unwrap_err(),
            store.get(a.cid()).await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, BlockstoreError::ObjectStore { location: l, .. } if *l == location),
                "{err}"
            );
            assert!(err.to_string().contains(&location), "{err}");
        }
        assert_eq!(store.used_bytes(), 6, "the failed put gave its room back");

        server.restart().await;
        assert!(
            !store.has(b.cid()).await.unwrap(),
            "nothing of it was stored"
        );
        assert!(store.put(&b).await.unwrap());
        assert_eq!(store.used_bytes(), 12);
        assert_eq!(store.get(a.cid()).await.unwrap().unwrap(), a.data());
        assert_eq!(listed(&store).await, BTreeSet::from([*a.cid(), *b.cid()]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_s3_store_refuses_wrong_credentials_and_a_missing_bucket() {
        let server = S3Server::start();
        let mut wrong = server.config("");
        if let Some(c) = wrong.credentials.as_mut() {
            c.secret_access_key = "not the secret".into();
        }
        let mut missing = server.config("");
        missing.bucket = "no-such-bucket".into();

        let store = Store::open(&BackendConfig::S3(wrong), None, 0).unwrap();
        let err = store.probe().await.unwrap_err();
        assert!(matches!(err, BlockstoreError::ObjectStore { .. }), "{err}");
        let err = store.put(&block(b"x")).await.unwrap_err();
        assert!(matches!(err, BlockstoreError::ObjectStore { .. }), "{err}");
        assert_eq!(store.used_bytes(), 0);
        assert!(
            std::fs::read_dir(server.bucket_dir())
                .unwrap()
                .next()
                .is_none(),
            "nothing reached the bucket"
        );

        // The probe lists the bucket, so a missing one is found at start (s3s-fs, unlike S3,
        // would create it on a PUT; the node never gets that far).
        let store = Store::open(&BackendConfig::S3(missing), None, 0).unwrap();
        let err = store.probe().await.unwrap_err();
        assert!(matches!(err, BlockstoreError::ObjectStore { .. }), "{err}");
        assert!(err.to_string().contains("no-such-bucket"), "{err}");
    }

    #[test]
    fn the_backend_is_the_one_configured() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blocks");
        let fs = Store::open(&BackendConfig::Fs { root: root.clone() }, None, 0).unwrap();
        assert_eq!(fs.backend().name(), "fs");
        assert!(
            root.join(".tmp").is_dir(),
            "the fs store made its directory"
        );
        assert_eq!(
            Store::open(&BackendConfig::Memory, None, 0)
                .unwrap()
                .backend()
                .name(),
            "memory"
        );
        assert_eq!(Store::memory().backend().name(), "memory");
        let server = S3Server::start();
        let s3 = Store::open(&BackendConfig::S3(server.config("")), None, 0).unwrap();
        assert_eq!(s3.backend().name(), "s3");
    }
}
