//! Content addressing: CIDs, blocks, the UnixFS importer/exporter and CARv1.
//!
//! Owns the rules that make the same bytes get the same CID everywhere: CIDv1 (base32 text)
//! with sha2-256 by default and blake3 (0x1e) on request, the raw and dag-pb codecs, and the
//! IPIP-0499 UnixFS profiles. Nothing here touches the disk, the database or the network:
//! blocks come in through [`BlockGet`] and go out as values.

pub mod car;
pub mod dag;
pub mod exporter;
pub mod hamt;
pub mod importer;
pub mod profile;
pub mod reach;
pub mod selector;
pub mod unixfs;

use std::future::Future;

use bytes::Bytes;
use cid::Cid;
use multihash_codetable::{Code, MultihashDigest};

/// Multicodec of raw leaf blocks.
pub const RAW: u64 = 0x55;
/// Multicodec of dag-pb nodes (UnixFS files and directories).
pub const DAG_PB: u64 = 0x70;
/// Multicodec of dag-cbor objects (CAR headers, Cairn's signed objects).
pub const DAG_CBOR: u64 = 0x71;

/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// Multihash code of blake3 (32-byte digest).
pub const BLAKE3: u64 = 0x1e;

/// Largest block Cairn accepts from anywhere (the Bitswap convention: 2 MiB).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// Errors about content itself: malformed CIDs, unsupported codecs, bytes that do not hash
/// to their CID, malformed nodes.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("malformed CID {input:?}: {reason}")]
    MalformedCid { input: String, reason: String },
    #[error("unsupported codec 0x{0:x} (supported: raw 0x55, dag-pb 0x70, dag-cbor 0x71)")]
    UnsupportedCodec(u64),
    #[error("unsupported hash function 0x{0:x} (supported: sha2-256 0x12, blake3 0x1e)")]
    UnsupportedHash(u64),
    #[error("block does not match its CID {0}")]
    HashMismatch(Cid),
    #[error("block {cid} is {size} bytes, over the {max}-byte limit")]
    BlockTooLarge { cid: Cid, size: usize, max: usize },
    #[error("malformed {kind} node {cid}: {reason}")]
    MalformedNode {
        cid: Cid,
        kind: &'static str,
        reason: String,
    },
    #[error("block {0} not found")]
    NotFound(Cid),
    #[error("path {path:?} not found under {root}")]
    PathNotFound { root: Cid, path: String },
    #[error("{0} is not a UnixFS file")]
    NotAFile(Cid),
    #[error("{0} is not a UnixFS directory")]
    NotADirectory(Cid),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("block source failed: {0}")]
    Source(String),
    /// The block store's object storage could not be reached or failed (the text is the
    /// store's error, for the log).
    #[error("block store unavailable: {0}")]
    StoreUnavailable(String),
    /// The local copy does not hash to its CID and no peer supplied a good one.
    #[error(
        "stored block {0} is corrupt and no peer supplied it (run `cairn repo verify --repair`)"
    )]
    Corrupt(Cid),
}

pub type Result<T, E = ContentError> = std::result::Result<T, E>;

/// The hash function used for new blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashAlg {
    #[default]
    Sha2_256,
    Blake3,
}

impl HashAlg {
    pub fn code(self) -> u64 {
        match self {
            HashAlg::Sha2_256 => SHA2_256,
            HashAlg::Blake3 => BLAKE3,
        }
    }

    pub fn digest(self, data: &[u8]) -> multihash::Multihash<64> {
        match self {
            HashAlg::Sha2_256 => Code::Sha2_256.digest(data),
            HashAlg::Blake3 => Code::Blake3_256.digest(data),
        }
    }
}

impl std::str::FromStr for HashAlg {
    type Err = ContentError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sha2-256" | "sha256" => Ok(HashAlg::Sha2_256),
            "blake3" => Ok(HashAlg::Blake3),
            other => Err(ContentError::InvalidOption(format!(
                "unknown hash {other:?} (use sha2-256 or blake3)"
            ))),
        }
    }
}

/// A block: bytes and the CID they hash to. Constructed only through checks, so holding a
/// `Block` means the bytes match the CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Bytes,
}

impl Block {
    /// Hashes `data` and builds its CIDv1 with `codec`.
    pub fn encode(codec: u64, hash: HashAlg, data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let cid = Cid::new_v1(codec, hash.digest(&data));
        Block { cid, data }
    }

    /// Checks that `data` hashes to `cid` (and that codec and hash are supported).
    pub fn verified(cid: Cid, data: impl Into<Bytes>) -> Result<Self> {
        let data = data.into();
        check_supported(&cid)?;
        if data.len() > MAX_BLOCK_SIZE {
            return Err(ContentError::BlockTooLarge {
                cid,
                size: data.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let alg = hash_alg(&cid)?;
        if alg.digest(&data).digest() != cid.hash().digest() {
            return Err(ContentError::HashMismatch(cid));
        }
        Ok(Block { cid, data })
    }

    /// Wraps bytes already verified elsewhere (e.g. just hashed by the importer).
    pub(crate) fn new_unchecked(cid: Cid, data: Bytes) -> Self {
        Block { cid, data }
    }

    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    pub fn data(&self) -> &Bytes {
        &self.data
    }

    pub fn into_parts(self) -> (Cid, Bytes) {
        (self.cid, self.data)
    }
}

/// The hash algorithm of a CID, if Cairn supports it.
pub fn hash_alg(cid: &Cid) -> Result<HashAlg> {
    match cid.hash().code() {
        SHA2_256 if cid.hash().size() == 32 => Ok(HashAlg::Sha2_256),
        BLAKE3 if cid.hash().size() == 32 => Ok(HashAlg::Blake3),
        other => Err(ContentError::UnsupportedHash(other)),
    }
}

/// Rejects CIDs whose codec or hash Cairn cannot verify or decode.
pub fn check_supported(cid: &Cid) -> Result<()> {
    match cid.codec() {
        RAW | DAG_PB | DAG_CBOR => {}
        other => return Err(ContentError::UnsupportedCodec(other)),
    }
    hash_alg(cid).map(|_| ())
}

/// Parses a CID from user input (CIDv0 `Qm...` or CIDv1 in any multibase) and checks that
/// Cairn supports its codec and hash.
pub fn parse_cid(input: &str) -> Result<Cid> {
    let cid = Cid::try_from(input.trim()).map_err(|e| ContentError::MalformedCid {
        input: input.to_string(),
        reason: e.to_string(),
    })?;
    check_supported(&cid)?;
    Ok(cid)
}

/// Where the exporter, the DAG walker and the CAR writer get blocks from: the local store,
/// or the local store backed by the network. Implementations must return verified bytes.
pub trait BlockGet: Send + Sync {
    fn get_block(&self, cid: &Cid) -> impl Future<Output = Result<Bytes>> + Send;

    /// Up to `len` bytes of a block from `offset` (fewer if the block ends first). Sources
    /// that can read a range without loading
    /// (and hashing) the whole block do so; such bytes are *not* checked against the CID, so
    /// only callers that verify them another way (a proof against its piece tree) use this.
    fn get_range(
        &self,
        cid: &Cid,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = Result<Bytes>> + Send {
        async move {
            let data = self.get_block(cid).await?;
            Ok(clamp_range(&data, offset, len))
        }
    }
}

/// The part of `data` from `offset`, at most `len` bytes long (empty past the end).
pub fn clamp_range(data: &Bytes, offset: u64, len: usize) -> Bytes {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let end = start.saturating_add(len).min(data.len());
    data.slice(start..end)
}

impl<T: BlockGet> BlockGet for &T {
    fn get_block(&self, cid: &Cid) -> impl Future<Output = Result<Bytes>> + Send {
        (**self).get_block(cid)
    }

    fn get_range(
        &self,
        cid: &Cid,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = Result<Bytes>> + Send {
        (**self).get_range(cid, offset, len)
    }
}

impl<T: BlockGet> BlockGet for std::sync::Arc<T> {
    fn get_block(&self, cid: &Cid) -> impl Future<Output = Result<Bytes>> + Send {
        (**self).get_block(cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_world_raw_cid_matches_reference() {
        let block = Block::encode(RAW, HashAlg::Sha2_256, &b"hello world"[..]);
        assert_eq!(
            block.cid().to_string(),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
    }

    #[test]
    fn verified_refuses_wrong_bytes() {
        let block = Block::encode(RAW, HashAlg::Blake3, &b"abc"[..]);
        let err = Block::verified(*block.cid(), &b"abd"[..]).unwrap_err();
        assert!(matches!(err, ContentError::HashMismatch(_)));
        assert!(Block::verified(*block.cid(), &b"abc"[..]).is_ok());
    }

    #[test]
    fn parse_cid_rejects_garbage_and_unknown_codecs() {
        assert!(matches!(
            parse_cid("not-a-cid"),
            Err(ContentError::MalformedCid { .. })
        ));
        // dag-json (0x0129) is a valid CID but not a codec Cairn stores.
        let cid = Cid::new_v1(0x0129, HashAlg::Sha2_256.digest(b"x"));
        assert!(matches!(
            parse_cid(&cid.to_string()),
            Err(ContentError::UnsupportedCodec(0x0129))
        ));
    }
}

#[cfg(test)]
mod vectors;

/// Serde helpers for JSON views, where a CID is its canonical text (not the byte form the
/// `cid` crate's serde impl emits for DAG-CBOR).
pub mod cid_text {
    use cid::Cid;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(cid: &Cid, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(cid)
    }

    pub fn serialize_all<S: Serializer>(cids: &[Cid], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(cids.iter().map(ToString::to_string))
    }
}
