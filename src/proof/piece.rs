//! The piece: a deal's DAG as deterministic CARv1 bytes, its commitment (BLAKE3 root and size),
//! the provider's offset index (piece bytes -> blocks) and the tree's outboard.
//!
//! Everything here is built in one streaming pass: the CAR bytes are produced block by block
//! and fed into [`TreeBuilder`], which keeps one 16 KiB chunk group and one chaining value per
//! tree level, so memory is O(log size) plus the outboard (size / 256).

use std::future::Future;
use std::io::Write;

use bao_tree::io::outboard::PostOrderMemOutboard;
use bao_tree::BaoTree;
use blake3::hazmat::{
    merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};
use bytes::Bytes;
use cid::Cid;

use super::{PieceError, BLOCK_SIZE, CHUNK_SIZE};
use crate::content::car::{encode_header, section_prefix};
use crate::content::dag::DagWalker;
use crate::content::BlockGet;

/// What a verifier keeps about a deal: the piece's BLAKE3 root and its length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PieceCommitment {
    /// BLAKE3 hash of the piece bytes (equal to the bao tree root for any chunk-group size).
    #[serde(with = "serde_bytes")]
    pub root: [u8; 32],
    /// Piece length in bytes.
    pub size: u64,
}

impl PieceCommitment {
    pub fn root_hash(&self) -> blake3::Hash {
        blake3::Hash::from(self.root)
    }

    /// Number of 1 KiB BLAKE3 chunks, the unit challenges sample (the last may be short).
    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(CHUNK_SIZE)
    }

    /// The tree geometry shared by prover and verifier.
    pub fn tree(&self) -> BaoTree {
        BaoTree::new(self.size, BLOCK_SIZE)
    }
}

/// The bao tree of a piece without its data: the hash pair of every tree node above the
/// 16 KiB chunk groups, in post-order (bao-tree's `PostOrderMemOutboard` layout, no size
/// suffix). `size / 256` bytes: 4 MiB for a 1 GiB piece. Store [`PieceOutboard::as_bytes`] in a
/// file next to the index and load it back with [`PieceOutboard::from_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceOutboard {
    commitment: PieceCommitment,
    data: Vec<u8>,
}

impl PieceOutboard {
    /// Checks that `data` has the length the commitment's tree needs. (Whether the hashes are
    /// right shows when proving: bao-tree validates every pair it sends against the root.)
    pub fn from_bytes(commitment: PieceCommitment, data: Vec<u8>) -> Result<Self, PieceError> {
        let expected = commitment.tree().outboard_size();
        if data.len() as u64 != expected {
            return Err(PieceError::BadOutboard {
                size: data.len() as u64,
                expected,
            });
        }
        Ok(PieceOutboard { commitment, data })
    }

    pub fn commitment(&self) -> PieceCommitment {
        self.commitment
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The bao-tree view used to encode proofs.
    pub(crate) fn as_bao(&self) -> PostOrderMemOutboard<&[u8]> {
        PostOrderMemOutboard {
            root: self.commitment.root_hash(),
            tree: self.commitment.tree(),
            data: &self.data,
        }
    }
}

/// Builds the BLAKE3 root and the post-order outboard of a byte stream whose length is not
/// known in advance.
///
/// A full chunk group is hashed (as a non-root subtree) only once more bytes arrive, because a
/// piece of exactly one group is hashed as the root instead. Equal-height subtrees are merged
/// as soon as both exist; post-order writes each pair right after its subtree, which is why
/// the outboard is append-only. At [`TreeBuilder::finish`] the remaining right spine is
/// merged bottom-up. The result is byte-identical to bao-tree's `outboard_post_order` (tested).
pub struct TreeBuilder<W> {
    group: Vec<u8>,
    group_bytes: usize,
    /// Index of the group being filled.
    group_index: u64,
    /// Chaining values of complete subtrees with their heights, left to right.
    stack: Vec<(ChainingValue, u32)>,
    outboard: W,
    size: u64,
}

impl<W: Write> TreeBuilder<W> {
    pub fn new(outboard: W) -> Self {
        let group_bytes = BLOCK_SIZE.bytes();
        TreeBuilder {
            group: Vec::with_capacity(group_bytes),
            group_bytes,
            group_index: 0,
            stack: Vec::new(),
            outboard,
            size: 0,
        }
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn update(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        self.size += data.len() as u64;
        while !data.is_empty() {
            if self.group.len() == self.group_bytes {
                let group = std::mem::take(&mut self.group);
                self.push_group(&group)?;
                self.group = group;
                self.group.clear();
            }
            // Fast path: whole groups straight from the input, keeping the last one back.
            while self.group.is_empty() && data.len() > self.group_bytes {
                let (head, rest) = data.split_at(self.group_bytes);
                self.push_group(head)?;
                data = rest;
            }
            let take = (self.group_bytes - self.group.len()).min(data.len());
            self.group.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    fn push_group(&mut self, group: &[u8]) -> std::io::Result<()> {
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(self.group_index * self.group_bytes as u64);
        hasher.update(group);
        self.stack.push((hasher.finalize_non_root(), 0));
        self.group_index += 1;
        while let [.., (left, lh), (right, rh)] = self.stack[..] {
            if lh != rh {
                break;
            }
            self.write_pair(&left, &right)?;
            self.stack.truncate(self.stack.len() - 2);
            self.stack
                .push((merge_subtrees_non_root(&left, &right, Mode::Hash), lh + 1));
        }
        Ok(())
    }

    fn write_pair(&mut self, left: &ChainingValue, right: &ChainingValue) -> std::io::Result<()> {
        self.outboard.write_all(left)?;
        self.outboard.write_all(right)
    }

    /// The commitment and the outboard writer.
    pub fn finish(mut self) -> std::io::Result<(PieceCommitment, W)> {
        if self.group_index == 0 {
            let root = blake3::hash(&self.group);
            return Ok((
                PieceCommitment {
                    root: *root.as_bytes(),
                    size: self.size,
                },
                self.outboard,
            ));
        }
        let group = std::mem::take(&mut self.group);
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(self.group_index * self.group_bytes as u64);
        hasher.update(&group);
        let mut right = hasher.finalize_non_root();
        loop {
            let Some((left, _)) = self.stack.pop() else {
                // Unreachable: a group was pushed before this one, so the stack was not empty.
                return Err(std::io::Error::other("tree builder stack underflow"));
            };
            self.write_pair(&left, &right)?;
            if self.stack.is_empty() {
                let root = merge_subtrees_root(&left, &right, Mode::Hash);
                self.outboard.flush()?;
                return Ok((
                    PieceCommitment {
                        root: *root.as_bytes(),
                        size: self.size,
                    },
                    self.outboard,
                ));
            }
            right = merge_subtrees_non_root(&left, &right, Mode::Hash);
        }
    }
}

/// Commitment and outboard of bytes already in memory (tests, benchmarks, small pieces).
pub fn commit_bytes(data: &[u8]) -> Result<PieceOutboard, PieceError> {
    let mut builder = TreeBuilder::new(Vec::new());
    builder
        .update(data)
        .map_err(|e| PieceError::Encode(e.to_string()))?;
    let (commitment, outboard) = builder
        .finish()
        .map_err(|e| PieceError::Encode(e.to_string()))?;
    PieceOutboard::from_bytes(commitment, outboard)
}

/// A deal's piece as the provider keeps it: the commitment, the outboard and the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub commitment: PieceCommitment,
    pub outboard: PieceOutboard,
    pub index: PieceIndex,
}

/// Builds the piece of the DAG under `root` in one streaming pass: CARv1 with `root` as its
/// only root, blocks in [`DagWalker`] order (the bytes [`crate::content::car::export_dag`]
/// writes). Holds one block at a time; fails if a block is missing.
pub async fn commit_dag<G: BlockGet>(src: G, root: Cid) -> Result<Piece, PieceError> {
    let io = |e: std::io::Error| PieceError::Encode(e.to_string());
    let mut builder = TreeBuilder::new(Vec::new());
    let header = encode_header(&[root])?;
    builder.update(&header).map_err(io)?;
    let mut sections = Vec::new();
    let mut walker = DagWalker::new(src, root);
    while let Some((cid, data)) = walker.next().await? {
        builder
            .update(&section_prefix(&cid, data.len()))
            .map_err(io)?;
        builder.update(&data).map_err(io)?;
        sections.push((cid, data.len() as u64));
    }
    let (commitment, outboard) = builder.finish().map_err(io)?;
    let index = PieceIndex::new(root, sections)?;
    if index.size() != commitment.size {
        return Err(PieceError::BadIndex(
            "index and tree disagree on the piece size".into(),
        ));
    }
    Ok(Piece {
        commitment,
        outboard: PieceOutboard::from_bytes(commitment, outboard)?,
        index,
    })
}

/// Where each byte of a piece comes from: the CAR header (recomputed from the root) or a
/// section (its varint and CID, recomputed, then the block's bytes from the block store). Lets
/// the provider serve any byte range of the piece without a second copy of the data.
///
/// Serialized (DAG-CBOR, see [`PieceIndex::to_bytes`]) as the root and the list of
/// `[cid, block length]` in piece order; offsets are recomputed on load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "IndexRepr", try_from = "IndexRepr")]
pub struct PieceIndex {
    root: Cid,
    header: Vec<u8>,
    sections: Vec<Section>,
    size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    cid: Cid,
    /// Offset of the section's varint in the piece.
    offset: u64,
    /// Length of varint + CID.
    prefix_len: u64,
    data_len: u64,
}

impl Section {
    fn end(&self) -> u64 {
        self.offset + self.prefix_len + self.data_len
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IndexRepr {
    root: Cid,
    blocks: Vec<(Cid, u64)>,
}

impl From<PieceIndex> for IndexRepr {
    fn from(index: PieceIndex) -> Self {
        IndexRepr {
            root: index.root,
            blocks: index
                .sections
                .into_iter()
                .map(|s| (s.cid, s.data_len))
                .collect(),
        }
    }
}

impl TryFrom<IndexRepr> for PieceIndex {
    type Error = PieceError;
    fn try_from(repr: IndexRepr) -> Result<Self, PieceError> {
        PieceIndex::new(repr.root, repr.blocks)
    }
}

impl PieceIndex {
    /// The index of the CAR with `root` and these `(cid, block length)` sections, in order.
    pub fn new(root: Cid, blocks: Vec<(Cid, u64)>) -> Result<Self, PieceError> {
        let header = encode_header(&[root])?;
        let mut offset = header.len() as u64;
        let mut sections = Vec::with_capacity(blocks.len());
        for (cid, data_len) in blocks {
            let len = usize::try_from(data_len)
                .map_err(|_| PieceError::BadIndex("block length overflows".into()))?;
            let prefix_len = section_prefix(&cid, len).len() as u64;
            let section = Section {
                cid,
                offset,
                prefix_len,
                data_len,
            };
            offset = section.end();
            sections.push(section);
        }
        Ok(PieceIndex {
            root,
            header,
            sections,
            size: offset,
        })
    }

    pub fn root(&self) -> &Cid {
        &self.root
    }

    /// Piece length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of blocks in the piece.
    pub fn blocks(&self) -> usize {
        self.sections.len()
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, PieceError> {
        serde_ipld_dagcbor::to_vec(self).map_err(|e| PieceError::Encode(e.to_string()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PieceError> {
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| PieceError::BadIndex(e.to_string()))
    }

    /// Fills `buf` with the piece bytes at `offset`, fetching the blocks it overlaps.
    pub async fn read_at<G: BlockGet>(
        &self,
        blocks: &G,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), PieceError> {
        let end = offset + buf.len() as u64;
        if end > self.size {
            return Err(PieceError::Unavailable { offset, end });
        }
        let mut pos = offset;
        if pos < self.header.len() as u64 {
            let take = (self.header.len() as u64).min(end) - pos;
            buf[..take as usize].copy_from_slice(&self.header[pos as usize..(pos + take) as usize]);
            pos += take;
        }
        // First section that ends after `pos`.
        let mut i = self.sections.partition_point(|s| s.end() <= pos);
        while pos < end {
            let Some(section) = self.sections.get(i) else {
                return Err(PieceError::Unavailable { offset: pos, end });
            };
            let out = &mut buf[(pos - offset) as usize..];
            let data_start = section.offset + section.prefix_len;
            if pos < data_start {
                let prefix = section_prefix(&section.cid, section.data_len as usize);
                let from = (pos - section.offset) as usize;
                let take = (prefix.len() - from).min(out.len());
                out[..take].copy_from_slice(&prefix[from..from + take]);
                pos += take as u64;
                continue;
            }
            // Only the bytes asked for: prove() checks them against the piece tree, so the
            // block need not be loaded and hashed whole for every sample.
            let from = (pos - data_start) as usize;
            let take = (section.data_len as usize - from).min(out.len());
            let data = blocks.get_range(&section.cid, from as u64, take).await?;
            if data.len() != take {
                return Err(PieceError::IndexMismatch {
                    cid: section.cid,
                    indexed: section.data_len,
                    stored: data.len() as u64,
                });
            }
            out[..take].copy_from_slice(&data);
            pos += take as u64;
            i += 1;
        }
        Ok(())
    }
}

/// Random access to a piece's bytes, for the prover.
pub trait PieceSource: Send + Sync {
    /// Fills `buf` with the bytes at `offset`, or fails (never a short read).
    fn read_at(
        &self,
        offset: u64,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<(), PieceError>> + Send;
}

impl PieceSource for [u8] {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), PieceError> {
        let end = offset + buf.len() as u64;
        let bytes = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, stop)| self.get(start..stop))
            .ok_or(PieceError::Unavailable { offset, end })?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl PieceSource for Vec<u8> {
    fn read_at(
        &self,
        offset: u64,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<(), PieceError>> + Send {
        self.as_slice().read_at(offset, buf)
    }
}

impl PieceSource for Bytes {
    fn read_at(
        &self,
        offset: u64,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<(), PieceError>> + Send {
        (**self).read_at(offset, buf)
    }
}

/// A piece read through its index from a block store: the provider's normal source.
pub struct IndexedPiece<'a, G> {
    pub index: &'a PieceIndex,
    pub blocks: G,
}

impl<G: BlockGet> PieceSource for IndexedPiece<'_, G> {
    fn read_at(
        &self,
        offset: u64,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<(), PieceError>> + Send {
        self.index.read_at(&self.blocks, offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bao_tree::io::outboard::PostOrderMemOutboard;

    use super::*;
    use crate::blockstore::{Blockstore, LocalBlocks, MemoryBlockstore};
    use crate::content::car::export_dag;
    use crate::proof::tests::sample_dag;

    /// Deterministic pseudo-random bytes.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        let mut out = vec![0u8; len];
        blake3::Hasher::new()
            .update(&[seed])
            .finalize_xof()
            .fill(&mut out);
        out
    }

    #[test]
    fn streaming_tree_matches_bao_tree_and_blake3() {
        let g = BLOCK_SIZE.bytes();
        let sizes = [
            0,
            1,
            1023,
            1024,
            1025,
            g - 1,
            g,
            g + 1,
            2 * g,
            2 * g + 1,
            3 * g,
            3 * g + 5,
            4 * g,
            5 * g + 7,
            7 * g,
            8 * g,
            8 * g + 1,
            13 * g + 999,
            64 * g,
            100 * g + 3,
        ];
        for size in sizes {
            let data = bytes(size, size as u8);
            let reference = PostOrderMemOutboard::create(&data, BLOCK_SIZE);
            // Feed in awkward pieces to exercise the buffering paths.
            for step in [1usize, 7, 1000, g, g + 3, usize::MAX] {
                if step == 1 && size > 3 * g {
                    continue;
                }
                let mut builder = TreeBuilder::new(Vec::new());
                for part in data.chunks(step.min(size.max(1))) {
                    builder.update(part).unwrap();
                }
                let (commitment, outboard) = builder.finish().unwrap();
                assert_eq!(commitment.size, size as u64);
                assert_eq!(
                    commitment.root_hash(),
                    reference.root,
                    "size {size} step {step}"
                );
                assert_eq!(commitment.root_hash(), blake3::hash(&data), "size {size}");
                assert_eq!(
                    outboard, reference.data,
                    "outboard, size {size} step {step}"
                );
            }
        }
    }

    #[tokio::test]
    async fn piece_is_the_exported_car_and_its_root_is_plain_blake3() {
        let (store, root) = sample_dag(5, 40_000).await;
        let piece = commit_dag(LocalBlocks(store.clone()), root).await.unwrap();
        let mut car = Vec::new();
        export_dag(LocalBlocks(store.clone()), root, &mut car)
            .await
            .unwrap();
        assert_eq!(piece.commitment.size, car.len() as u64);
        assert_eq!(piece.commitment.root_hash(), blake3::hash(&car));
        assert_eq!(piece.outboard, commit_bytes(&car).unwrap());
        assert_eq!(piece.index.size(), car.len() as u64);
        assert_eq!(piece.index.blocks(), 6);
    }

    #[tokio::test]
    async fn index_reconstructs_every_range() {
        let (store, root) = sample_dag(4, 3000).await;
        let piece = commit_dag(LocalBlocks(store.clone()), root).await.unwrap();
        let mut car = Vec::new();
        export_dag(LocalBlocks(store.clone()), root, &mut car)
            .await
            .unwrap();
        let blocks = LocalBlocks(store.clone());
        let len = car.len();
        for start in (0..len).step_by(37) {
            for width in [1usize, 2, 40, 1000, 5000] {
                let end = (start + width).min(len);
                let mut buf = vec![0u8; end - start];
                piece
                    .index
                    .read_at(&blocks, start as u64, &mut buf)
                    .await
                    .unwrap();
                assert_eq!(buf, &car[start..end], "range {start}..{end}");
            }
        }
        let mut buf = [0u8; 2];
        assert!(matches!(
            piece.index.read_at(&blocks, len as u64 - 1, &mut buf).await,
            Err(PieceError::Unavailable { .. })
        ));
    }

    #[tokio::test]
    async fn index_round_trips_and_detects_a_changed_block() {
        let (store, root) = sample_dag(3, 2000).await;
        let piece = commit_dag(LocalBlocks(store.clone()), root).await.unwrap();
        let bytes = piece.index.to_bytes().unwrap();
        assert_eq!(PieceIndex::from_bytes(&bytes).unwrap(), piece.index);

        // Same CIDs listed with a wrong length: reads of that block are refused.
        let mut repr = IndexRepr::from(piece.index.clone());
        repr.blocks[1].1 += 1;
        let wrong = PieceIndex::try_from(repr).unwrap();
        let mut buf = vec![0u8; wrong.size() as usize];
        assert!(matches!(
            wrong
                .read_at(&LocalBlocks(store.clone()), 0, &mut buf)
                .await,
            Err(PieceError::IndexMismatch { .. })
        ));
    }

    #[tokio::test]
    async fn missing_block_fails_the_commitment() {
        let store = Arc::new(MemoryBlockstore::new());
        let (full, root) = sample_dag(2, 100).await;
        let mut walker = DagWalker::new(LocalBlocks(full.clone()), root);
        // Copy only the root block.
        if let Some((cid, data)) = walker.next().await.unwrap() {
            store
                .put(&crate::content::Block::verified(cid, data).unwrap())
                .await
                .unwrap();
        }
        let err = commit_dag(LocalBlocks(store), root).await.unwrap_err();
        assert!(matches!(err, PieceError::Content(_)), "{err:?}");
    }

    #[test]
    fn outboard_length_is_checked() {
        let piece = commit_bytes(&bytes(100_000, 1)).unwrap();
        let mut data = piece.as_bytes().to_vec();
        data.pop();
        assert!(matches!(
            PieceOutboard::from_bytes(piece.commitment(), data),
            Err(PieceError::BadOutboard { .. })
        ));
    }
}
