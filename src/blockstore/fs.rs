//! The default on-disk block store.
//!
//! Layout: `<root>/<shard>/<key>` where `key` is the block's CIDv1 in base32 (the text form
//! of its bytes) and `shard` its next-to-last two characters (as Kubo's flatfs), plus `<root>/.tmp/`
//! for writes in flight. Paths are built only from CID bytes, never from user text.
//!
//! A write goes to a temp file and is renamed into place, so a reader sees a block whole or
//! not at all. fsync is batched: [`Blockstore::sync`] flushes every file and shard directory
//! written since the last call; callers record blocks in the database only after it returns.
//! A crash before that can leave a renamed but unflushed file; reads verify the hash, so
//! such a block shows up as corrupt, is removed, and counts as absent.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use cid::Cid;

use super::{Blockstore, BlockstoreError, Result};
use crate::content::{Block, DAG_PB};

const TMP_DIR: &str = ".tmp";

#[derive(Debug)]
pub struct FsBlockstore {
    root: PathBuf,
    quota: Option<u64>,
    used: AtomicU64,
    unsynced: Mutex<BTreeSet<PathBuf>>,
}

impl FsBlockstore {
    /// Opens (creating if needed) a store at `root`. `used_bytes` comes from the database,
    /// which is the record of what the store holds; `quota` caps it.
    pub fn open(root: impl Into<PathBuf>, quota: Option<u64>, used_bytes: u64) -> Result<Self> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        // Leftovers of writes interrupted by a crash: never renamed, so never visible.
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(FsBlockstore {
            root,
            quota,
            used: AtomicU64::new(used_bytes),
            unsynced: Mutex::new(BTreeSet::new()),
        })
    }

    /// Bytes of block data held, as accounted since open.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn quota(&self) -> Option<u64> {
        self.quota
    }

    fn path_of(&self, cid: &Cid) -> PathBuf {
        let key = block_key(cid);
        let shard = &key[key.len() - 3..key.len() - 1];
        self.root.join(shard).join(&key)
    }

    fn reserve(&self, len: u64) -> Result<()> {
        let Some(quota) = self.quota else {
            self.used.fetch_add(len, Ordering::Relaxed);
            return Ok(());
        };
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|total| *total <= quota)
            })
            .map(|_| ())
            .map_err(|used| BlockstoreError::Full {
                needed: len,
                available: quota.saturating_sub(used),
            })
    }

    fn release(&self, len: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(len))
            });
    }

    fn note_unsynced(&self, path: PathBuf) {
        let mut set = self.unsynced.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = path.parent() {
            set.insert(dir.to_path_buf());
        }
        set.insert(path);
    }
}

/// The file name of a block: base32 of its CIDv1 bytes. CIDv0 is stored as its CIDv1 twin,
/// so both forms find the same file.
fn block_key(cid: &Cid) -> String {
    let v1 = if cid.version() == cid::Version::V0 {
        Cid::new_v1(DAG_PB, *cid.hash())
    } else {
        *cid
    };
    v1.to_string()
}

fn io_err(path: &Path, source: std::io::Error) -> BlockstoreError {
    BlockstoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlockstoreError::Io {
            path: String::new(),
            source: std::io::Error::other(e),
        })?
}

fn write_atomically(tmp_dir: &Path, path: &Path, data: &[u8]) -> Result<()> {
    let tmp = tmp_dir.join(format!("{:016x}", rand::random::<u64>()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io_err(path, e))
}

fn read_verified(path: &Path, cid: &Cid) -> Result<Option<Bytes>> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, e)),
    };
    match Block::verified(*cid, data) {
        Ok(block) => Ok(Some(block.into_parts().1)),
        Err(_) => Err(BlockstoreError::Corrupt(*cid)),
    }
}

impl Blockstore for FsBlockstore {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        let (path, cid) = (self.path_of(cid), *cid);
        blocking(move || read_verified(&path, &cid)).await
    }

    async fn read_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Option<Bytes>> {
        let path = self.path_of(cid);
        blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&path, e)),
            };
            let mut buf = Vec::with_capacity(len);
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| (&mut file).take(len as u64).read_to_end(&mut buf))
                .map_err(|e| io_err(&path, e))?;
            Ok(Some(Bytes::from(buf)))
        })
        .await
    }

    async fn has(&self, cid: &Cid) -> Result<bool> {
        Ok(tokio::fs::try_exists(self.path_of(cid))
            .await
            .unwrap_or(false))
    }

    async fn put(&self, block: &Block) -> Result<bool> {
        let path = self.path_of(block.cid());
        if self.has(block.cid()).await? {
            return Ok(false);
        }
        let len = block.data().len() as u64;
        self.reserve(len)?;
        let (tmp_dir, data, target) = (self.root.join(TMP_DIR), block.data().clone(), path.clone());
        match blocking(move || write_atomically(&tmp_dir, &target, &data)).await {
            Ok(()) => {
                self.note_unsynced(path);
                Ok(true)
            }
            Err(e) => {
                self.release(len);
                Err(e)
            }
        }
    }

    async fn delete(&self, cid: &Cid) -> Result<bool> {
        let path = self.path_of(cid);
        let removed = blocking(move || {
            let len = match std::fs::metadata(&path) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&path, e)),
            };
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            Ok(Some(len))
        })
        .await?;
        if let Some(len) = removed {
            self.release(len);
        }
        Ok(removed.is_some())
    }

    async fn sync(&self) -> Result<()> {
        let paths = std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(|p| p.into_inner()));
        if paths.is_empty() {
            return Ok(());
        }
        blocking(move || {
            for path in &paths {
                match std::fs::File::open(path) {
                    Ok(file) => file.sync_all().map_err(|e| io_err(path, e))?,
                    // Deleted again before the sync: nothing to make durable.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(path, e)),
                }
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{HashAlg, RAW};

    fn block(bytes: &[u8]) -> Block {
        Block::encode(RAW, HashAlg::Sha2_256, bytes.to_vec())
    }

    #[tokio::test]
    async fn put_get_delete_round_trip_with_exact_accounting() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path(), None, 0).unwrap();
        let b = block(b"hello");
        assert!(store.put(&b).await.unwrap());
        assert!(!store.put(&b).await.unwrap(), "second put is a no-op");
        store.sync().await.unwrap();
        assert_eq!(store.used_bytes(), 5);
        assert_eq!(store.get(b.cid()).await.unwrap().unwrap(), b.data());
        assert!(store.delete(b.cid()).await.unwrap());
        assert_eq!(store.used_bytes(), 0);
        assert!(store.get(b.cid()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_block_altered_on_disk_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path(), None, 0).unwrap();
        let b = block(b"original");
        store.put(&b).await.unwrap();
        std::fs::write(store.path_of(b.cid()), b"tampered").unwrap();
        assert!(matches!(
            store.get(b.cid()).await,
            Err(BlockstoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn quota_refuses_without_leaving_anything_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path(), Some(10), 0).unwrap();
        assert!(store.put(&block(b"12345")).await.unwrap());
        let big = block(b"123456");
        let err = store.put(&big).await.unwrap_err();
        assert!(matches!(
            err,
            BlockstoreError::Full {
                needed: 6,
                available: 5
            }
        ));
        assert!(!store.has(big.cid()).await.unwrap());
        assert_eq!(store.used_bytes(), 5);
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn ranged_reads_return_the_bytes_asked_for_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path(), None, 0).unwrap();
        let b = block(b"0123456789");
        store.put(&b).await.unwrap();
        assert_eq!(
            store.read_range(b.cid(), 3, 4).await.unwrap().unwrap(),
            &b"3456"[..]
        );
        assert_eq!(
            store.read_range(b.cid(), 8, 10).await.unwrap().unwrap(),
            &b"89"[..],
            "cut at the end"
        );
        assert!(store
            .read_range(b.cid(), 20, 1)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        let absent = block(b"absent");
        assert!(store
            .read_range(absent.cid(), 0, 1)
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn cidv0_and_its_v1_twin_share_a_file() {
        let hash = HashAlg::Sha2_256.digest(b"node");
        let v0 = Cid::new_v0(hash).unwrap();
        let v1 = Cid::new_v1(DAG_PB, hash);
        assert_eq!(block_key(&v0), block_key(&v1));
        assert_eq!(
            block_key(&v1),
            v1.to_string(),
            "same text as the CID's base32 form"
        );
    }
}
