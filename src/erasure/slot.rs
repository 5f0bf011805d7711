//! A slot as an ordinary content-addressed object.
//!
//! A slot's bytes are imported as a **UnixFS file** with the `unixfs-v1-2025` profile
//! ([`SLOT_PROFILE`]: CIDv1, sha2-256, 1 MiB raw leaves, balanced DAG of 1024 links), exactly
//! what `cairn add` (and Helia) give for a file of those bytes. Why not one raw block: a slot
//! of a 1 GiB piece in 4+4 is 256 MiB, far over the 2 MiB block limit Bitswap and the block
//! store keep to; as a UnixFS file it is blocks like any other, so the keeper deals it like
//! any CID, providers fetch and serve it over Bitswap, a gateway serves it, and its piece is
//! the canonical CAR of that DAG, committed by [`crate::proof::commit_dag`], the code every
//! deal already uses: market and proofs need no change.
//!
//! The piece of a slot is not the slot's bytes but its DAG's CAR (header, the root node,
//! then the leaves in DAG order), so the CAR cannot be hashed while the slot streams by (its
//! root node comes first but is known only at the end). [`commit_slot`] therefore reads the
//! slot twice: once to build the DAG (keeping only the small interior nodes, ~40 bytes per
//! MiB), once to stream its CAR through the piece tree. [`SlotHasher`] computes the CID alone
//! in one streaming pass, for checking slots as they are read.

use std::collections::HashMap;
use std::io::Write;

use bytes::Bytes;
use cid::Cid;

use super::{ErasureError, Result};
use crate::content::importer::FileImporter;
use crate::content::profile::{ImportOptions, Profile};
use crate::content::{Block, BlockGet, ContentError, RAW};
use crate::proof::{commit_dag, PieceCommitment};

/// The import profile of slot DAGs (fixed by version 1 of the manifest).
pub const SLOT_PROFILE: Profile = Profile::UnixfsV1_2025;

fn slot_options() -> ImportOptions {
    ImportOptions {
        profile: SLOT_PROFILE,
        ..Default::default()
    }
}

fn content_err(e: ContentError) -> ErasureError {
    ErasureError::Slot(e.to_string())
}

/// What a slot is as an object: its CID, its length and the commitment of its piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotObject {
    /// The slot's UnixFS file CID ([`SLOT_PROFILE`]).
    pub cid: Cid,
    /// The slot's length in bytes.
    pub size: u64,
    /// The commitment of the slot's piece (the CAR of its DAG), what its deal commits to.
    pub piece: PieceCommitment,
}

/// Random-access reads of a slot's bytes, for [`commit_slot`]'s two passes.
pub trait ReadAt: Sync {
    /// Length in bytes.
    fn size(&self) -> std::io::Result<u64>;
    /// Fills `buf` from `offset`; fails if the source ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> std::io::Result<u64> {
        self.as_slice().size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

#[cfg(unix)]
impl ReadAt for std::fs::File {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// The CID of a slot computed as its bytes are written, in one pass (the blocks themselves
/// are dropped). Memory: one 1 MiB chunk and the pending links.
pub struct SlotHasher {
    importer: FileImporter,
    size: u64,
}

impl SlotHasher {
    pub fn new() -> Result<Self> {
        Ok(SlotHasher {
            importer: FileImporter::new(slot_options()).map_err(content_err)?,
            size: 0,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The slot's CID and length.
    pub fn finish(self) -> Result<(Cid, u64)> {
        let (_, file) = self.importer.finish().map_err(content_err)?;
        Ok((file.cid, self.size))
    }
}

impl Write for SlotHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        drop(self.importer.write(buf));
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The blocks of a slot DAG without a block store: interior nodes in memory, raw leaves read
/// back from the slot's bytes and verified against their CIDs.
struct SlotBlocks<'a, S: ?Sized> {
    source: &'a S,
    parents: HashMap<Cid, Bytes>,
    /// Each distinct leaf at its first offset.
    leaves: HashMap<Cid, (u64, usize)>,
}

impl<S: ReadAt + ?Sized> BlockGet for SlotBlocks<'_, S> {
    async fn get_block(&self, cid: &Cid) -> crate::content::Result<Bytes> {
        if let Some(data) = self.parents.get(cid) {
            return Ok(data.clone());
        }
        let &(offset, len) = self.leaves.get(cid).ok_or(ContentError::NotFound(*cid))?;
        let mut data = vec![0u8; len];
        self.source
            .read_exact_at(&mut data, offset)
            .map_err(|e| ContentError::Source(e.to_string()))?;
        // The source is read twice; a block that changed in between is refused here.
        Ok(Block::verified(*cid, data)?.into_parts().1)
    }
}

/// Builds a slot's object: its UnixFS CID, size, and the commitment of its piece, reading
/// `source` twice (see the module docs). CPU-bound (sha2-256 twice, BLAKE3 once per byte):
/// run it in `spawn_blocking` from async code.
pub fn commit_slot<S: ReadAt + ?Sized>(source: &S) -> Result<SlotObject> {
    let size = source.size().map_err(ErasureError::io)?;
    let mut importer = FileImporter::new(slot_options()).map_err(content_err)?;
    let mut blocks = SlotBlocks {
        source,
        parents: HashMap::new(),
        leaves: HashMap::new(),
    };
    let mut leaf_offset = 0u64;
    let mut record = |block: Block| {
        let (cid, data) = block.into_parts();
        if cid.codec() == RAW {
            blocks
                .leaves
                .entry(cid)
                .or_insert((leaf_offset, data.len()));
            leaf_offset += data.len() as u64;
        } else {
            blocks.parents.insert(cid, data);
        }
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < size {
        let len = (size - offset).min(buf.len() as u64) as usize;
        source
            .read_exact_at(&mut buf[..len], offset)
            .map_err(ErasureError::io)?;
        importer
            .write(&buf[..len])
            .into_iter()
            .for_each(&mut record);
        offset += len as u64;
    }
    let (last, file) = importer.finish().map_err(content_err)?;
    last.into_iter().for_each(&mut record);
    if leaf_offset != size {
        return Err(ErasureError::Slot(format!(
            "the slot DAG's leaves hold {leaf_offset} bytes of {size}"
        )));
    }
    // Every `get_block` above completes without waiting, so polling to completion here
    // never blocks on anything but the reads themselves.
    let piece = futures::executor::block_on(commit_dag(&blocks, file.cid))
        .map_err(|e| ErasureError::Slot(e.to_string()))?;
    Ok(SlotObject {
        cid: file.cid,
        size,
        piece: piece.commitment,
    })
}
