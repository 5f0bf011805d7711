//! The default on-disk block store.
//!
//! Layout: `<root>/<shard>/<key>` where `key` is the block's CIDv1 in base32 (the text form
//! of its bytes) and `shard` its next-to-last two characters (as Kubo's flatfs), plus `<root>/.tmp/`
//! for writes in flight. Paths are built only from CID bytes, never from user text, and a
//! file name is taken for a block only if it is exactly the key of the CID it parses to and
//! sits in that key's shard.
//!
//! A write goes to a temp file and is renamed into place, so a reader sees a block whole or
//! not at all. fsync is batched: [`Blockstore::sync`] flushes every file and shard directory
//! written since the last call; callers record blocks in the database only after it returns.
//! A crash before that can leave a renamed but unflushed file, torn or empty. Reads verify
//! the hash, so such a block reads as [`BlockstoreError::Corrupt`], never as wrong bytes;
//! [`Blockstore::verify`] reports it; and the next `put` of the block compares the file with
//! the block's bytes and, if they differ, rewrites it through the same temp-and-rename path.
//! Temp files left by a crash are removed at open.
//!
//! This store does no accounting: the quota and used bytes live in [`super::Quota`].

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::{canonical, check_stored, BlockStatus, Blockstore, BlockstoreError, Result};
use crate::content::Block;

const TMP_DIR: &str = ".tmp";
/// CIDs a listing walks ahead of its reader.
const LIST_AHEAD: usize = 256;

#[derive(Debug)]
pub struct FsBlockstore {
    root: PathBuf,
    /// Files and shard directories written since the last [`Blockstore::sync`].
    unsynced: Mutex<BTreeSet<PathBuf>>,
}

impl FsBlockstore {
    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
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
            unsynced: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file of `cid` is (whether or not it exists): for tools and tests that look
    /// at the files themselves.
    pub fn path_of(&self, cid: &Cid) -> PathBuf {
        let key = block_key(cid);
        self.root.join(shard_of(&key)).join(&key)
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
    canonical(cid).to_string()
}

/// The shard directory of a key: its next-to-last two characters. Keys are base32 CIDv1
/// text, ASCII and far longer than three characters.
fn shard_of(key: &str) -> &str {
    key.get(key.len().saturating_sub(3)..key.len().saturating_sub(1))
        .unwrap_or_default()
}

/// The CID a file in `shard` names, if the name is exactly the key of a CID in that shard.
fn parse_key(shard: &str, name: &str) -> Option<Cid> {
    let cid = Cid::try_from(name).ok()?;
    (block_key(&cid) == name && shard_of(name) == shard).then_some(cid)
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

/// The file's bytes, or `None` if there is no file.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

fn read_verified(path: &Path, cid: &Cid) -> Result<Option<Bytes>> {
    let Some(data) = read_file(path)? else {
        return Ok(None);
    };
    match Block::verified(*cid, data) {
        Ok(block) => Ok(Some(block.into_parts().1)),
        Err(_) => Err(BlockstoreError::Corrupt(*cid)),
    }
}

fn verify_file(path: &Path, cid: &Cid) -> Result<BlockStatus> {
    crate::content::check_supported(cid)?;
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BlockStatus::Missing),
        Err(e) => return Err(io_err(path, e)),
    };
    // Too long to be any block: no need to read it to know.
    if len > crate::content::MAX_BLOCK_SIZE as u64 {
        return Ok(BlockStatus::Corrupt);
    }
    match read_file(path)? {
        Some(data) => check_stored(cid, Bytes::from(data)),
        // Removed between the two calls.
        None => Ok(BlockStatus::Missing),
    }
}

/// What [`put_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Put {
    /// No file was there; one was written.
    Created,
    /// A file that did not match was replaced.
    Rewrote,
    /// An identical file was already there.
    Kept,
}

/// Writes `data` to `path` unless an identical file is already there.
fn put_file(tmp_dir: &Path, path: &Path, cid: &Cid, data: &[u8]) -> Result<Put> {
    let existing = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path, e)),
    };
    if let Some(len) = existing {
        // `data` hashes to `cid` (a `Block` is built only through that check), so a file
        // equal to it is the verified block, without hashing the file again.
        if len == data.len() as u64 && read_file(path)?.as_deref() == Some(data) {
            return Ok(Put::Kept);
        }
        tracing::warn!(%cid, stored_len = len, "stored block is torn or corrupt; rewriting it");
    }
    write_atomically(tmp_dir, path, data)?;
    Ok(match existing {
        None => Put::Created,
        Some(_) => Put::Rewrote,
    })
}

/// Sends every CID under `root` to `tx`, shard by shard, until done or the reader is gone.
fn walk(root: &Path, tx: &tokio::sync::mpsc::Sender<Result<Cid>>) {
    let shards = match std::fs::read_dir(root) {
        Ok(shards) => shards,
        Err(e) => {
            let _ = tx.blocking_send(Err(io_err(root, e)));
            return;
        }
    };
    for shard in shards {
        let shard = match shard {
            Ok(shard) => shard,
            Err(e) => {
                if tx.blocking_send(Err(io_err(root, e))).is_err() {
                    return;
                }
                continue;
            }
        };
        let path = shard.path();
        let name = shard.file_name();
        if name == TMP_DIR {
            continue;
        }
        let Some(shard_name) = name.to_str().filter(|n| n.len() == 2 && path.is_dir()) else {
            tracing::warn!(path = %path.display(), "not a shard of the block store; skipped");
            continue;
        };
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) => {
                if tx.blocking_send(Err(io_err(&path, e))).is_err() {
                    return;
                }
                continue;
            }
        };
        for entry in entries {
            let item = match entry {
                Ok(entry) => {
                    let cid = entry
                        .file_name()
                        .to_str()
                        .and_then(|name| parse_key(shard_name, name));
                    match cid {
                        Some(cid) => Ok(cid),
                        None => {
                            let stray = entry.path();
                            tracing::warn!(path = %stray.display(), "not a block file; skipped");
                            continue;
                        }
                    }
                }
                Err(e) => Err(io_err(&path, e)),
            };
            if tx.blocking_send(item).is_err() {
                return;
            }
        }
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
        let (tmp_dir, target) = (self.root.join(TMP_DIR), path.clone());
        let (cid, data) = (*block.cid(), block.data().clone());
        let put = blocking(move || put_file(&tmp_dir, &target, &cid, &data)).await?;
        if put != Put::Kept {
            self.note_unsynced(path);
        }
        Ok(put == Put::Created)
    }

    async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
        let path = self.path_of(cid);
        blocking(move || {
            let len = match std::fs::metadata(&path) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&path, e)),
            };
            match std::fs::remove_file(&path) {
                Ok(()) => Ok(Some(len)),
                // Removed by someone else since the metadata call.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(&path, e)),
            }
        })
        .await
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

    async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
        let (path, cid) = (self.path_of(cid), *cid);
        blocking(move || verify_file(&path, &cid)).await
    }

    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        let root = self.root.clone();
        // The walk starts on first poll, on a blocking thread, and stays at most LIST_AHEAD
        // CIDs ahead of the reader; dropping the stream stops it.
        futures::stream::once(async move {
            let (tx, rx) = tokio::sync::mpsc::channel(LIST_AHEAD);
            tokio::task::spawn_blocking(move || walk(&root, &tx));
            futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })
        })
        .flatten()
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{HashAlg, DAG_PB, RAW};
    use futures::TryStreamExt;

    fn block(bytes: &[u8]) -> Block {
        Block::encode(RAW, HashAlg::Sha2_256, bytes.to_vec())
    }

    async fn listed(store: &FsBlockstore) -> BTreeSet<Cid> {
        store.list().try_collect().await.unwrap()
    }

    #[tokio::test]
    async fn put_get_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let b = block(b"hello");
        assert!(store.put(&b).await.unwrap());
        assert!(!store.put(&b).await.unwrap(), "second put is a no-op");
        store.sync().await.unwrap();
        assert_eq!(store.get(b.cid()).await.unwrap().unwrap(), b.data());
        assert_eq!(store.delete(b.cid()).await.unwrap(), Some(5));
        assert_eq!(store.delete(b.cid()).await.unwrap(), None);
        assert!(store.get(b.cid()).await.unwrap().is_none());
        assert!(store.unsynced.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_block_altered_on_disk_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let b = block(b"original");
        store.put(&b).await.unwrap();
        std::fs::write(store.path_of(b.cid()), b"tampered").unwrap();
        assert!(matches!(
            store.get(b.cid()).await,
            Err(BlockstoreError::Corrupt(_))
        ));
        assert_eq!(store.verify(b.cid()).await.unwrap(), BlockStatus::Corrupt);
    }

    #[tokio::test]
    async fn a_truncated_file_is_rewritten_by_a_later_put_of_the_same_block() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let b = block(&[9u8; 4096]);
        store.put(&b).await.unwrap();
        store.sync().await.unwrap();
        let path = store.path_of(b.cid());
        // What a crash between rename and fsync can leave: the name, part of the bytes.
        std::fs::write(&path, &b.data()[..1000]).unwrap();
        assert_eq!(store.verify(b.cid()).await.unwrap(), BlockStatus::Corrupt);

        assert!(
            !store.put(&b).await.unwrap(),
            "the block was there, torn: not new"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b.data().as_ref());
        assert_eq!(store.verify(b.cid()).await.unwrap(), BlockStatus::Intact);
        assert_eq!(store.get(b.cid()).await.unwrap().unwrap(), b.data());
        // The rewrite is queued for the next sync, like any write.
        assert!(store.unsynced.lock().unwrap().contains(&path));
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn a_same_length_file_with_other_bytes_is_rewritten_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let b = block(b"exactly these bytes");
        store.put(&b).await.unwrap();
        let path = store.path_of(b.cid());
        std::fs::write(&path, b"exactly those bytes").unwrap();
        assert!(!store.put(&b).await.unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b.data().as_ref());
    }

    #[tokio::test]
    async fn garbage_in_the_sharded_dir_is_reported_and_strays_are_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let kept: Vec<Block> = (0..5u8).map(|i| block(&[i; 100])).collect();
        for b in &kept {
            store.put(b).await.unwrap();
        }
        // A file of garbage under the name of a block that was never put.
        let garbage = block(b"never stored");
        let garbage_path = store.path_of(garbage.cid());
        std::fs::create_dir_all(garbage_path.parent().unwrap()).unwrap();
        std::fs::write(&garbage_path, b"\x00\xffnot the block").unwrap();
        // Things that do not name a block: skipped by the listing.
        let shard = store.path_of(kept[0].cid()).parent().unwrap().to_path_buf();
        std::fs::write(shard.join("not-a-cid"), b"x").unwrap();
        let misplaced = block(b"misplaced");
        let wrong_shard = if shard_of(&block_key(misplaced.cid())) == "zz" {
            "yy"
        } else {
            "zz"
        };
        std::fs::create_dir_all(dir.path().join(wrong_shard)).unwrap();
        std::fs::write(
            dir.path()
                .join(wrong_shard)
                .join(block_key(misplaced.cid())),
            misplaced.data(),
        )
        .unwrap();
        std::fs::write(shard.join(block_key(misplaced.cid()).to_uppercase()), b"x").unwrap();
        std::fs::write(dir.path().join("README"), b"x").unwrap();
        std::fs::create_dir_all(dir.path().join("not-a-shard")).unwrap();
        std::fs::write(dir.path().join(TMP_DIR).join("0123456789abcdef"), b"x").unwrap();

        let mut expected: BTreeSet<Cid> = kept.iter().map(|b| *b.cid()).collect();
        expected.insert(*garbage.cid());
        assert_eq!(listed(&store).await, expected);

        assert_eq!(
            store.verify(garbage.cid()).await.unwrap(),
            BlockStatus::Corrupt
        );
        assert!(matches!(
            store.get(garbage.cid()).await,
            Err(BlockstoreError::Corrupt(c)) if c == *garbage.cid()
        ));
        for b in &kept {
            assert_eq!(store.verify(b.cid()).await.unwrap(), BlockStatus::Intact);
        }
        assert_eq!(
            store.verify(misplaced.cid()).await.unwrap(),
            BlockStatus::Missing,
            "a file in the wrong shard is not the block"
        );
    }

    #[tokio::test]
    async fn a_file_too_long_for_any_block_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let b = block(b"small");
        store.put(&b).await.unwrap();
        let file = std::fs::File::create(store.path_of(b.cid())).unwrap();
        file.set_len(crate::content::MAX_BLOCK_SIZE as u64 + 1)
            .unwrap();
        assert_eq!(store.verify(b.cid()).await.unwrap(), BlockStatus::Corrupt);
    }

    #[tokio::test]
    async fn a_listing_longer_than_its_buffer_returns_every_cid_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
        let mut expected = BTreeSet::new();
        for i in 0..(LIST_AHEAD as u32 * 2 + 7) {
            let b = block(&i.to_le_bytes());
            store.put(&b).await.unwrap();
            expected.insert(*b.cid());
        }
        let all: Vec<Cid> = store.list().try_collect().await.unwrap();
        assert_eq!(all.len(), expected.len(), "no CID twice");
        assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), expected);
        // A reader that stops early just drops the stream.
        let first: Vec<_> = store.list().take(3).collect().await;
        assert_eq!(first.len(), 3);
    }

    #[tokio::test]
    async fn a_missing_root_is_a_listing_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path().join("blocks")).unwrap();
        std::fs::remove_dir_all(dir.path().join("blocks")).unwrap();
        let items: Vec<_> = store.list().collect().await;
        assert!(
            matches!(items.as_slice(), [Err(BlockstoreError::Io { .. })]),
            "{items:?}"
        );
    }

    #[tokio::test]
    async fn ranged_reads_return_the_bytes_asked_for_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlockstore::open(dir.path()).unwrap();
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
        let key = block_key(&v1);
        assert_eq!(parse_key(shard_of(&key), &key), Some(v1));
        assert_eq!(parse_key(shard_of(&key), &v0.to_string()), None);
    }
}
