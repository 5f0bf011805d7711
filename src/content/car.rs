//! CARv1 (Content Addressable aRchive) streaming read and write.
//!
//! Format (shared/specs/ipfs/carv1.md): `varint(len) ‖ header` where the header is the DAG-CBOR
//! map `{"roots": [CID, ...], "version": 1}`, then any number of sections
//! `varint(len) ‖ CID bytes ‖ block bytes`, where `len` counts the CID and the block. Varints
//! are unsigned LEB128 and must be minimally encoded.
//!
//! Invariants:
//! - The writer emits exactly the bytes go-car and js-car (`@ipld/car`) emit: the header map
//!   in DAG-CBOR canonical key order (`roots` before `version`: shorter key first), roots as
//!   tag-42 CIDs, one section per block. [`encode_header`] and [`section_prefix`] are the only
//!   places that lay bytes out; the piece builder in `crate::proof` reuses them, so a CAR
//!   exported here and a deal's piece are the same bytes.
//! - [`export_dag`] writes the DAG in Cairn's one traversal order ([`DagWalker`]: depth-first,
//!   pre-order, each block once at its first occurrence) under a single root, which makes the
//!   export of a DAG deterministic (Filecoin's "deterministic CAR").
//! - The reader is streaming and bounded: it holds at most one section in memory, refuses a
//!   header over [`MAX_HEADER_SIZE`] and a section over [`MAX_SECTION_SIZE`] before allocating
//!   for it, and verifies every block against its CID before handing it out. End of input
//!   exactly at a section boundary is the end of the archive; anywhere else it is
//!   [`CarError::Truncated`].

// `CarError` wraps `ContentError`, whose variants carry a `Cid` (about 100 bytes). Errors are
// the cold path here, and callers match on `CarError::Content(e)`, so it is not boxed.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use cid::Cid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::dag::DagWalker;
use super::{Block, BlockGet, ContentError, MAX_BLOCK_SIZE};

/// Largest header the reader accepts (about 1,700 CIDv1 roots). go-car and js-car write one
/// root in practice; the cap keeps a hostile length prefix from making us allocate.
pub const MAX_HEADER_SIZE: usize = 64 * 1024;

/// Largest CID the reader accepts in a section (a CIDv1 with a 64-byte digest is 70 bytes).
pub const MAX_CID_SIZE: usize = 128;

/// Largest section the reader accepts: the largest block plus its CID.
pub const MAX_SECTION_SIZE: usize = MAX_BLOCK_SIZE + MAX_CID_SIZE;

/// The only CAR version this module reads and writes.
pub const CAR_VERSION: u64 = 1;

/// Longest LEB128 encoding of a u64.
const MAX_VARINT_LEN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("CAR I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed CAR header: {0}")]
    BadHeader(String),
    #[error("unsupported CAR version {0} (only CARv1 is supported)")]
    UnsupportedVersion(u64),
    #[error("CAR header is {size} bytes, over the {max}-byte limit")]
    HeaderTooLarge { size: u64, max: usize },
    #[error("malformed varint at byte {offset} of the CAR")]
    BadVarint { offset: u64 },
    #[error(
        "CAR is truncated: input ended inside the section or header starting at byte {offset}"
    )]
    Truncated { offset: u64 },
    #[error("CAR section at byte {offset} is {size} bytes, over the {max}-byte limit")]
    SectionTooLarge { offset: u64, size: u64, max: usize },
    #[error("malformed CID in the CAR section at byte {offset}: {reason}")]
    BadCid { offset: u64, reason: String },
    #[error("CAR block does not match its CID {0}")]
    BlockMismatch(Cid),
    #[error("the CAR holds more than {max} blocks its roots do not reach")]
    TooManyUnreachable { max: usize },
    #[error(transparent)]
    Content(#[from] ContentError),
}

impl CarError {
    /// True when the failure is on our side (disk, socket) rather than in the archive's bytes.
    pub fn is_io(&self) -> bool {
        matches!(self, CarError::Io(_))
    }
}

pub type Result<T, E = CarError> = std::result::Result<T, E>;

/// What a CAR writer produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CarStats {
    /// Number of block sections written.
    pub blocks: u64,
    /// Total bytes written, header included.
    pub bytes: u64,
}

/// The CARv1 header as DAG-CBOR. Field order is the canonical one (shorter key first), which
/// is also what serde_ipld_dagcbor emits for a struct.
#[derive(serde::Serialize)]
struct HeaderOut<'a> {
    roots: &'a [Cid],
    version: u64,
}

/// The header as read: `roots` optional so that a CARv2 pragma (`{"version": 2}`) is reported
/// as an unsupported version rather than a malformed header.
#[derive(serde::Deserialize)]
struct HeaderIn {
    #[serde(default)]
    roots: Option<Vec<Cid>>,
    version: u64,
}

/// The full header bytes for `roots`: varint length prefix and DAG-CBOR map.
pub fn encode_header(roots: &[Cid]) -> Result<Vec<u8>> {
    let body = serde_ipld_dagcbor::to_vec(&HeaderOut {
        roots,
        version: CAR_VERSION,
    })
    .map_err(|e| CarError::BadHeader(e.to_string()))?;
    let mut out = Vec::with_capacity(body.len() + MAX_VARINT_LEN);
    push_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The bytes that precede a block's data in its section: `varint(len(cid) + data_len) ‖ cid`.
pub fn section_prefix(cid: &Cid, data_len: usize) -> Vec<u8> {
    let cid_bytes = cid.to_bytes();
    let mut out = Vec::with_capacity(cid_bytes.len() + MAX_VARINT_LEN);
    push_varint(&mut out, (cid_bytes.len() + data_len) as u64);
    out.extend_from_slice(&cid_bytes);
    out
}

fn push_varint(out: &mut Vec<u8>, value: u64) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(value, &mut buf));
}

/// Writes a CARv1 to `W`: the header on [`CarWriter::new`], a section per
/// [`CarWriter::write_block`], a flush on [`CarWriter::finish`].
pub struct CarWriter<W> {
    writer: W,
    stats: CarStats,
}

impl<W: AsyncWrite + Unpin> CarWriter<W> {
    /// Writes the header for `roots` (Cairn always writes exactly one; see module docs).
    pub async fn new(mut writer: W, roots: &[Cid]) -> Result<Self> {
        let header = encode_header(roots)?;
        writer.write_all(&header).await?;
        Ok(CarWriter {
            writer,
            stats: CarStats {
                blocks: 0,
                bytes: header.len() as u64,
            },
        })
    }

    /// Appends one section. The caller vouches that `data` hashes to `cid` (blocks come from
    /// a verified [`BlockGet`]); the writer only enforces the size limit readers apply.
    pub async fn write_block(&mut self, cid: &Cid, data: &[u8]) -> Result<()> {
        if data.len() > MAX_BLOCK_SIZE {
            return Err(ContentError::BlockTooLarge {
                cid: *cid,
                size: data.len(),
                max: MAX_BLOCK_SIZE,
            }
            .into());
        }
        let prefix = section_prefix(cid, data.len());
        self.writer.write_all(&prefix).await?;
        self.writer.write_all(data).await?;
        self.stats.blocks += 1;
        self.stats.bytes += (prefix.len() + data.len()) as u64;
        Ok(())
    }

    /// What has been written so far.
    pub fn stats(&self) -> CarStats {
        self.stats
    }

    /// Flushes and hands back the writer (not shut down: the caller owns its lifetime).
    pub async fn finish(mut self) -> Result<(W, CarStats)> {
        self.writer.flush().await?;
        Ok((self.writer, self.stats))
    }
}

/// Writes the DAG under `root` as a CARv1 with `root` as its only root, blocks in
/// [`DagWalker`] order. Fails (having written a prefix) if a block is missing from `src`.
pub async fn export_dag<G: BlockGet, W: AsyncWrite + Unpin>(
    src: G,
    root: Cid,
    writer: W,
) -> Result<CarStats> {
    let mut car = CarWriter::new(writer, &[root]).await?;
    let mut walker = DagWalker::new(src, root);
    while let Some((cid, data)) = walker.next().await? {
        car.write_block(&cid, &data).await?;
    }
    let (_, stats) = car.finish().await?;
    Ok(stats)
}

/// Reads a CARv1 as a stream of verified blocks.
pub struct CarReader<R> {
    reader: BufReader<R>,
    roots: Vec<Cid>,
    /// Bytes consumed so far: where the next section starts. Used in error reports.
    offset: u64,
}

impl<R: AsyncRead + Unpin> CarReader<R> {
    /// Reads and checks the header.
    pub async fn new(reader: R) -> Result<Self> {
        let mut reader = BufReader::new(reader);
        let (len, varint_len) = match read_varint(&mut reader, 0).await? {
            Some(v) => v,
            None => return Err(CarError::Truncated { offset: 0 }),
        };
        if len > MAX_HEADER_SIZE as u64 {
            return Err(CarError::HeaderTooLarge {
                size: len,
                max: MAX_HEADER_SIZE,
            });
        }
        if len == 0 {
            return Err(CarError::BadHeader("empty header".into()));
        }
        let mut body = vec![0u8; len as usize];
        read_exact_or_truncated(&mut reader, &mut body, 0).await?;
        let header: HeaderIn = serde_ipld_dagcbor::from_slice(&body)
            .map_err(|e| CarError::BadHeader(e.to_string()))?;
        if header.version != CAR_VERSION {
            return Err(CarError::UnsupportedVersion(header.version));
        }
        let roots = header
            .roots
            .ok_or_else(|| CarError::BadHeader("missing roots".into()))?;
        Ok(CarReader {
            reader,
            roots,
            offset: varint_len as u64 + len,
        })
    }

    /// The roots the header names (not checked against the blocks, as the spec allows).
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// Bytes of the archive consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next block, verified against its CID; `None` at a clean end of input.
    pub async fn next_block(&mut self) -> Result<Option<Block>> {
        let start = self.offset;
        let (len, varint_len) = match read_varint(&mut self.reader, start).await? {
            Some(v) => v,
            None => return Ok(None),
        };
        if len > MAX_SECTION_SIZE as u64 {
            return Err(CarError::SectionTooLarge {
                offset: start,
                size: len,
                max: MAX_SECTION_SIZE,
            });
        }
        let mut section = vec![0u8; len as usize];
        read_exact_or_truncated(&mut self.reader, &mut section, start).await?;
        self.offset = start + varint_len as u64 + len;

        let mut cursor = std::io::Cursor::new(&section[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::BadCid {
            offset: start,
            reason: e.to_string(),
        })?;
        let cid_len = cursor.position() as usize;
        let data = Bytes::from(section).slice(cid_len..);
        match Block::verified(cid, data) {
            Ok(block) => Ok(Some(block)),
            Err(ContentError::HashMismatch(cid)) => Err(CarError::BlockMismatch(cid)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads one LEB128 varint. `Ok(None)` if the input ends before its first byte; `Truncated`
/// if it ends inside it. Returns the value and its encoded length.
async fn read_varint<R: AsyncRead + Unpin>(
    reader: &mut R,
    offset: u64,
) -> Result<Option<(u64, usize)>> {
    let mut buf = [0u8; MAX_VARINT_LEN];
    for i in 0..MAX_VARINT_LEN {
        let n = reader.read(&mut buf[i..=i]).await?;
        if n == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(CarError::Truncated { offset })
            };
        }
        if buf[i] & 0x80 == 0 {
            let (value, _) = unsigned_varint::decode::u64(&buf[..=i])
                .map_err(|_| CarError::BadVarint { offset })?;
            return Ok(Some((value, i + 1)));
        }
    }
    Err(CarError::BadVarint { offset })
}

async fn read_exact_or_truncated<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    offset: u64,
) -> Result<()> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(CarError::Truncated { offset })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blockstore::{Blockstore, LocalBlocks, MemoryBlockstore};
    use crate::content::{HashAlg, DAG_PB, RAW};
    use std::sync::Arc;

    /// Three raw leaves under a dag-pb root, stored in a memory block store.
    async fn sample_dag() -> (Arc<MemoryBlockstore>, Cid, Vec<Block>) {
        let store = Arc::new(MemoryBlockstore::new());
        let leaves: Vec<Block> = (0..3u8)
            .map(|i| Block::encode(RAW, HashAlg::Sha2_256, vec![i; 1000 + i as usize]))
            .collect();
        let node = ipld_dagpb::PbNode {
            links: leaves
                .iter()
                .map(|b| ipld_dagpb::PbLink {
                    cid: *b.cid(),
                    name: Some(String::new()),
                    size: Some(b.data().len() as u64),
                })
                .collect(),
            data: None,
        };
        let root = Block::encode(DAG_PB, HashAlg::Sha2_256, node.into_bytes());
        for b in leaves.iter().chain(std::iter::once(&root)) {
            store.put(b).await.unwrap();
        }
        let mut order = vec![root.clone()];
        order.extend(leaves);
        (store, *root.cid(), order)
    }

    async fn export(store: &Arc<MemoryBlockstore>, root: Cid) -> Vec<u8> {
        let mut out = Vec::new();
        export_dag(LocalBlocks(store.clone()), root, &mut out)
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn round_trip_in_walk_order() {
        let (store, root, order) = sample_dag().await;
        let bytes = export(&store, root).await;
        let mut reader = CarReader::new(&bytes[..]).await.unwrap();
        assert_eq!(reader.roots(), &[root]);
        let mut got = Vec::new();
        while let Some(block) = reader.next_block().await.unwrap() {
            got.push(block);
        }
        assert_eq!(got, order);
        assert_eq!(reader.offset(), bytes.len() as u64);
    }

    /// The same DAG written by js-car 5.4.7 (`CarWriter.create([root])`, blocks put in walk
    /// order, dag-pb via `@ipld/dag-pb`): same root CID, same length, same sha2-256.
    #[tokio::test]
    async fn whole_car_matches_js_car() {
        let (store, root, _) = sample_dag().await;
        assert_eq!(
            root.to_string(),
            "bafybeifmhfm6ctj6wpnhxhd4alohnfry5egootx5hffu426lry7kgvak3m"
        );
        let bytes = export(&store, root).await;
        assert_eq!(bytes.len(), 3349);
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            "17a77e4647d01e927a912c5556b4d0ac45bfd7d07235b8fe8e0ebcd04e841b16"
        );
    }

    #[tokio::test]
    async fn stats_count_every_byte() {
        let (store, root, order) = sample_dag().await;
        let mut out = Vec::new();
        let stats = export_dag(LocalBlocks(store.clone()), root, &mut out)
            .await
            .unwrap();
        assert_eq!(
            stats,
            CarStats {
                blocks: order.len() as u64,
                bytes: out.len() as u64
            }
        );
    }

    /// Reference from js-car (`@ipld/car` 5.x `CarWriter.create([cid])`, header only) for the
    /// raw CID of "hello world": `a2 65 "roots" 81 d8 2a 58 25 00 <cid> 67 "version" 01`.
    #[tokio::test]
    async fn header_bytes_match_js_car() {
        let cid: Cid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
            .parse()
            .unwrap();
        let header = encode_header(&[cid]).unwrap();
        assert_eq!(
            hex::encode(&header),
            "3aa265726f6f747381d82a58250001551220b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde967766572736\
             96f6e01"
        );
    }

    #[tokio::test]
    async fn block_not_matching_its_cid_is_refused() {
        let (store, root, _) = sample_dag().await;
        let mut bytes = export(&store, root).await;
        let last = bytes.len() - 1;
        bytes[last] ^= 1; // inside the last raw leaf
        let mut reader = CarReader::new(&bytes[..]).await.unwrap();
        let mut result = Ok(None);
        for _ in 0..4 {
            result = reader.next_block().await;
            if result.is_err() {
                break;
            }
        }
        assert!(
            matches!(result, Err(CarError::BlockMismatch(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn truncated_car_is_refused_at_every_cut() {
        let (store, root, _) = sample_dag().await;
        let bytes = export(&store, root).await;
        let header_len = encode_header(&[root]).unwrap().len();
        // Section boundaries are clean ends; every other cut must be reported.
        let mut boundaries = vec![header_len];
        let mut reader = CarReader::new(&bytes[..]).await.unwrap();
        while reader.next_block().await.unwrap().is_some() {
            boundaries.push(reader.offset() as usize);
        }
        for cut in 0..bytes.len() {
            let result = read_all(&bytes[..cut]).await;
            if boundaries.contains(&cut) {
                assert!(result.is_ok(), "cut at {cut}: {result:?}");
            } else {
                assert!(
                    matches!(result, Err(CarError::Truncated { .. })),
                    "cut at {cut}: {result:?}"
                );
            }
        }
    }

    async fn read_all(bytes: &[u8]) -> Result<usize> {
        let mut reader = CarReader::new(bytes).await?;
        let mut n = 0;
        while reader.next_block().await?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    #[tokio::test]
    async fn oversized_section_is_refused_before_reading_it() {
        let cid = Block::encode(RAW, HashAlg::Sha2_256, &b"x"[..])
            .cid()
            .to_owned();
        let mut bytes = encode_header(&[cid]).unwrap();
        push_varint(&mut bytes, (MAX_SECTION_SIZE + 1) as u64);
        // No body at all: the reader must refuse on the length alone, not report truncation.
        let mut reader = CarReader::new(&bytes[..]).await.unwrap();
        assert!(matches!(
            reader.next_block().await,
            Err(CarError::SectionTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn oversized_header_is_refused() {
        let mut bytes = Vec::new();
        push_varint(&mut bytes, (MAX_HEADER_SIZE + 1) as u64);
        assert!(matches!(
            CarReader::new(&bytes[..]).await,
            Err(CarError::HeaderTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn carv2_pragma_is_an_unsupported_version() {
        // The CARv2 pragma: varint(10) ‖ {"version": 2}.
        let bytes = hex::decode("0aa16776657273696f6e02").unwrap();
        assert!(matches!(
            CarReader::new(&bytes[..]).await,
            Err(CarError::UnsupportedVersion(2))
        ));
    }

    #[tokio::test]
    async fn garbage_header_and_cid_are_refused() {
        let bytes = hex::decode("03ffffff").unwrap();
        assert!(matches!(
            CarReader::new(&bytes[..]).await,
            Err(CarError::BadHeader(_))
        ));

        let cid = Block::encode(RAW, HashAlg::Sha2_256, &b"x"[..])
            .cid()
            .to_owned();
        let mut bytes = encode_header(&[cid]).unwrap();
        bytes.extend_from_slice(&[3, 0x01, 0xff, 0xff]);
        let mut reader = CarReader::new(&bytes[..]).await.unwrap();
        assert!(matches!(
            reader.next_block().await,
            Err(CarError::BadCid { .. })
        ));
    }

    #[tokio::test]
    async fn overlong_varint_is_refused() {
        // 0x80 0x00 is a non-minimal encoding of 0.
        let bytes = [0x80u8, 0x00];
        assert!(matches!(
            CarReader::new(&bytes[..]).await,
            Err(CarError::BadVarint { .. })
        ));
    }

    #[tokio::test]
    async fn missing_block_fails_the_export() {
        let (store, root, order) = sample_dag().await;
        store.delete(order[2].cid()).await.unwrap();
        let mut out = Vec::new();
        let err = export_dag(LocalBlocks(store.clone()), root, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, CarError::Content(ContentError::NotFound(_))));
    }
}
