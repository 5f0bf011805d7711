//! The proof object and the prover: read the chunk groups holding the sampled chunks, then
//! let bao-tree encode the sampled chunks with the tree nodes that link them to the root.

use std::collections::BTreeMap;

use bao_tree::io::sync::{encode_ranges_validated, ReadAt};
use bao_tree::{ChunkNum, ChunkRanges};

use super::{
    decode_canonical, encode, Challenge, PieceError, PieceOutboard, PieceSource, ProofError,
    BLOCK_SIZE, CHUNK_SIZE, MAX_PROOF_SIZE,
};

/// The answer to a [`Challenge`]. Exchanged as DAG-CBOR; fields in canonical key order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// The challenge's nonce (binds the proof to one challenge).
    #[serde(with = "serde_bytes")]
    pub nonce: [u8; 32],
    /// The distinct sampled chunk indices, ascending.
    pub chunks: Vec<u64>,
    /// The challenge's period.
    pub period: u64,
    /// bao-tree's pre-order range encoding of `chunks` (16 KiB chunk groups, no size prefix):
    /// hash pairs and chunk bytes, verified against the piece root and size alone.
    #[serde(with = "serde_bytes")]
    pub encoded: Vec<u8>,
    /// The piece's BLAKE3 root.
    #[serde(with = "serde_bytes")]
    pub piece_root: [u8; 32],
}

impl Proof {
    /// The canonical DAG-CBOR encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProofError> {
        encode(self, "proof")
    }

    /// Decodes a proof, refusing anything but its canonical encoding and anything over
    /// [`MAX_PROOF_SIZE`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        decode_canonical(bytes, "proof", MAX_PROOF_SIZE)
    }
}

/// The bao-tree ranges of a sorted list of chunk indices.
pub(crate) fn chunk_ranges(chunks: &[u64]) -> ChunkRanges {
    let mut ranges = ChunkRanges::empty();
    for &chunk in chunks {
        ranges |= ChunkRanges::from(ChunkNum(chunk)..ChunkNum(chunk + 1));
    }
    ranges
}

/// Answers `challenge` from the piece bytes in `piece` and its `outboard`.
///
/// Reads one 16 KiB chunk group per distinct sample (at most `samples * 16 KiB`) and checks
/// them against the outboard while encoding, so local corruption is reported as
/// [`PieceError::Corrupt`] instead of being sent out as a failing proof.
pub async fn prove<S: PieceSource + ?Sized>(
    challenge: &Challenge,
    piece: &S,
    outboard: &PieceOutboard,
) -> Result<Proof, PieceError> {
    challenge.validate()?;
    let commitment = outboard.commitment();
    if challenge.piece() != commitment {
        return Err(PieceError::WrongPiece(format!(
            "challenge names root {} size {}, we hold root {} size {}",
            hex::encode(challenge.piece_root),
            challenge.piece_size,
            commitment.root_hash().to_hex(),
            commitment.size
        )));
    }
    let chunks = challenge.distinct_chunks();
    let group_bytes = BLOCK_SIZE.bytes() as u64;
    let mut groups = Groups::default();
    for &chunk in &chunks {
        let start = chunk * CHUNK_SIZE / group_bytes * group_bytes;
        if groups.0.contains_key(&start) {
            continue;
        }
        let len = group_bytes.min(commitment.size - start);
        let mut buf = vec![0u8; len as usize];
        piece.read_at(start, &mut buf).await?;
        groups.0.insert(start, buf);
    }
    let mut encoded = Vec::new();
    encode_ranges_validated(
        &groups,
        outboard.as_bao(),
        &chunk_ranges(&chunks),
        &mut encoded,
    )
    .map_err(|e| PieceError::Corrupt(e.to_string()))?;
    Ok(Proof {
        nonce: challenge.nonce,
        chunks,
        period: challenge.period,
        encoded,
        piece_root: commitment.root,
    })
}

/// The chunk groups read for one proof, keyed by byte offset. bao-tree reads whole groups at
/// their start, so a lookup by start offset is all `read_at` needs.
#[derive(Default)]
struct Groups(BTreeMap<u64, Vec<u8>>);

impl ReadAt for Groups {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((&start, data)) = self.0.range(..=pos).next_back() else {
            return Err(std::io::Error::other(format!(
                "piece byte {pos} was not read"
            )));
        };
        let from = (pos - start) as usize;
        if from >= data.len() {
            return Err(std::io::Error::other(format!(
                "piece byte {pos} was not read"
            )));
        }
        let n = (data.len() - from).min(buf.len());
        buf[..n].copy_from_slice(&data[from..from + n]);
        Ok(n)
    }
}
