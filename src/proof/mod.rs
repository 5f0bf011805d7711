//! Proofs of retrievability: piece commitment, challenges, proving and verification.
//! The normative text is `contracts/proof.md`; this module is its implementation.
//!
//! # What it owns
//!
//! - **The piece** ([`piece`]): a deal's root DAG serialized as a CARv1 with that root as the only
//!   root and the blocks in [`crate::content::dag::DagWalker`] order (depth-first, pre-order,
//!   first occurrence): exactly the bytes [`crate::content::car::export_dag`] writes. Its
//!   commitment [`PieceCommitment`] is `(root, size)`: `root` is the BLAKE3 verified-streaming
//!   tree root over the piece bytes, which *is* `blake3(piece)`, for any chunk-group size.
//!   The provider also keeps a [`PieceIndex`] (piece byte ranges -> header or block, so it can
//!   rebuild any range from the block store without a second copy) and the tree's
//!   [`PieceOutboard`]. [`commit_dag`] builds all three in one streaming pass.
//! - **Challenges** ([`challenge`]): `{nonce, period, samples, deadline, piece_root, piece_size}`;
//!   the sampled 1 KiB chunk indices derive from `BLAKE3-derive_key(context, piece_root ‖ size ‖
//!   period ‖ nonce)` read as an XOF, with rejection sampling (no modulo bias).
//! - **Proofs** ([`prove()`], [`verify()`]): the sampled chunks with the tree nodes linking them
//!   to the root, in bao-tree's range encoding; a verifier needs only the commitment.
//!
//! # Parameters and why
//!
//! - **Tree chunk groups of 16 KiB** ([`BLOCK_SIZE`], `from_chunk_log(4)`). The outboard stores
//!   one 64-byte hash pair per group: size/256, so 4 MiB per GiB of piece (1 KiB groups would
//!   need 64 MiB per GiB; 256 KiB groups 256 KiB per GiB). Proof size does not depend on the
//!   group size (the prover recomputes the nodes inside a group from its bytes), but prove cost
//!   does: the prover reads and hashes one whole group per sample, 20 × 16 KiB = 320 KiB per
//!   challenge (about 0.1 ms of hashing), where 256 KiB groups would read 5 MiB. 16 KiB is
//!   also iroh-blobs' choice, so the outboard layout is a well-trodden one.
//! - **Sample unit: one 1 KiB BLAKE3 chunk** ([`CHUNK_SIZE`]). A sample costs about
//!   `1 KiB + 64 B × log2(chunks)` in the proof (about 2.3 KiB on a 1 GiB piece, less when
//!   paths share upper nodes), so 20 samples on 1 GiB stay under 64 KiB; sampling whole 16 KiB
//!   groups would be over 300 KiB.
//! - **Sampling with replacement**: duplicates are allowed in the derived list; the proof
//!   carries each distinct chunk once (ascending). This keeps the maths exact: a provider
//!   missing a fraction `f` of the chunks passes a challenge of `s` samples with probability
//!   `(1 - f)^s`, and `(1 - f)^(s·k)` over `k` periods. With `s = 20`: f = 1% passes 81.8% of
//!   the time, 5%: 35.8%, 10%: 12.2%, 50%: 9.5 × 10⁻⁷. Catching a 1% loss with 99% confidence
//!   takes 459 samples, about 23 periods of 20 (tested empirically below).
//!
//! # Wire
//!
//! Protocol id [`PROTOCOL`] (`/cairn/proof/1`): one [`Challenge`] request, one [`Proof`]
//! response, each a canonical DAG-CBOR object (decoders refuse non-canonical bytes and unknown
//! fields) under a size cap ([`MAX_CHALLENGE_SIZE`], [`MAX_PROOF_SIZE`], at most
//! [`MAX_SAMPLES`] samples). Deadlines are unix milliseconds; the verifier stamps the arrival
//! time and passes it to [`verify()`] explicitly (no wall clock inside).

pub mod challenge;
pub mod error;
pub mod piece;
pub mod prove;
pub mod verify;
pub mod wire;

#[cfg(test)]
mod vectors;

pub use challenge::Challenge;
pub use error::{PieceError, ProofError};
pub use piece::{
    commit_bytes, commit_dag, IndexedPiece, Piece, PieceCommitment, PieceIndex, PieceOutboard,
    PieceSource,
};
pub use prove::{prove, Proof};
pub use verify::verify;
pub use wire::{Answer, AuditRecord, Rejection};

use bao_tree::BlockSize;

/// The libp2p protocol id of challenge/proof exchange, version 1.
pub const PROTOCOL: &str = "/cairn/proof/1";

/// Tree chunk-group size: 2^4 chunks of 1 KiB = 16 KiB (see module docs).
pub const BLOCK_SIZE: BlockSize = BlockSize::from_chunk_log(4);

/// BLAKE3 chunk size, the unit challenges sample.
pub const CHUNK_SIZE: u64 = 1024;

/// Most samples a challenge may ask for.
pub const MAX_SAMPLES: u32 = 64;

/// Largest encoded challenge accepted (a real one is about 130 bytes).
pub const MAX_CHALLENGE_SIZE: usize = 1024;

/// Largest encoded proof accepted: 64 samples on a 1 TiB piece need about 190 KiB.
pub const MAX_PROOF_SIZE: usize = 256 * 1024;

/// The canonical DAG-CBOR bytes of `value`.
pub(crate) fn encode<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<Vec<u8>, ProofError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| ProofError::malformed(what, e))
}

/// Decodes `bytes` as `T`, refusing more than `max` bytes and anything that does not re-encode
/// to exactly `bytes` (non-canonical forms, trailing bytes), so each object has one encoding
/// and therefore one CID and one signature input.
pub(crate) fn decode_canonical<T>(
    bytes: &[u8],
    what: &'static str,
    max: usize,
) -> Result<T, ProofError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    if bytes.len() > max {
        return Err(ProofError::TooLarge {
            what,
            size: bytes.len() as u64,
            max: max as u64,
        });
    }
    let value: T =
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| ProofError::malformed(what, e))?;
    if encode(&value, what)? != bytes {
        return Err(ProofError::malformed(
            what,
            "not the canonical DAG-CBOR encoding",
        ));
    }
    Ok(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use cid::Cid;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    use super::*;
    use crate::blockstore::{Blockstore, MemoryBlockstore};
    use crate::content::{Block, HashAlg, DAG_PB, RAW};

    /// Byte `j` of leaf `i` in the test DAGs and the golden vectors: `(7·i + 13·j) mod 256`.
    pub(crate) fn leaf_bytes(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| ((7 * i + 13 * j) % 256) as u8).collect()
    }

    /// `leaves` raw sha2-256 leaves of `leaf_size` bytes under one dag-pb node (links named
    /// "", Tsize = leaf length, no Data): the fixed DAG shape of the golden vectors.
    pub(crate) fn sample_blocks(leaves: usize, leaf_size: usize) -> (Block, Vec<Block>) {
        let leaves: Vec<Block> = (0..leaves)
            .map(|i| Block::encode(RAW, HashAlg::Sha2_256, leaf_bytes(i, leaf_size)))
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
        (
            Block::encode(DAG_PB, HashAlg::Sha2_256, node.into_bytes()),
            leaves,
        )
    }

    pub(crate) async fn sample_dag(
        leaves: usize,
        leaf_size: usize,
    ) -> (Arc<MemoryBlockstore>, Cid) {
        let (root, leaves) = sample_blocks(leaves, leaf_size);
        let store = Arc::new(MemoryBlockstore::new());
        for block in leaves.iter().chain(std::iter::once(&root)) {
            store.put(block).await.unwrap();
        }
        (store, *root.cid())
    }

    /// The piece bytes of a sample DAG, with its outboard.
    pub(crate) async fn sample_piece(leaves: usize, leaf_size: usize) -> (Vec<u8>, PieceOutboard) {
        let (store, root) = sample_dag(leaves, leaf_size).await;
        let mut car = Vec::new();
        crate::content::car::export_dag(crate::blockstore::LocalBlocks(store), root, &mut car)
            .await
            .unwrap();
        let outboard = commit_bytes(&car).unwrap();
        (car, outboard)
    }

    fn nonce(i: u64) -> [u8; 32] {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    const DEADLINE: u64 = 1_000_000;

    #[tokio::test]
    async fn honest_proofs_verify_through_the_index_too() {
        let (store, root) = sample_dag(6, 50_000).await;
        let piece = commit_dag(crate::blockstore::LocalBlocks(store.clone()), root)
            .await
            .unwrap();
        let source = IndexedPiece {
            index: &piece.index,
            blocks: crate::blockstore::LocalBlocks(store),
        };
        for i in 0..20 {
            let challenge = Challenge::new(piece.commitment, i, nonce(i), 20, DEADLINE);
            let proof = prove(&challenge, &source, &piece.outboard).await.unwrap();
            let proof = Proof::from_bytes(&proof.to_bytes().unwrap()).unwrap();
            verify(&challenge, &piece.commitment, &proof, DEADLINE).unwrap();
        }
    }

    #[tokio::test]
    async fn tiny_piece_single_group_proves() {
        let (car, outboard) = sample_piece(1, 10).await;
        assert!(car.len() < BLOCK_SIZE.bytes());
        let challenge = Challenge::new(outboard.commitment(), 0, nonce(1), 5, DEADLINE);
        let proof = prove(&challenge, &car, &outboard).await.unwrap();
        verify(&challenge, &outboard.commitment(), &proof, 0).unwrap();
    }

    /// A setup with one valid proof to corrupt.
    async fn valid() -> (PieceOutboard, Vec<u8>, Challenge, Proof) {
        let (car, outboard) = sample_piece(4, 30_000).await;
        let challenge = Challenge::new(outboard.commitment(), 7, nonce(7), 12, DEADLINE);
        let proof = prove(&challenge, &car, &outboard).await.unwrap();
        verify(&challenge, &outboard.commitment(), &proof, DEADLINE).unwrap();
        (outboard, car, challenge, proof)
    }

    fn reason(r: Result<(), ProofError>) -> &'static str {
        r.err().map(|e| e.reason()).unwrap_or("ok")
    }

    #[tokio::test]
    async fn flipped_bytes_anywhere_are_bad_chunks() {
        let (outboard, _, challenge, proof) = valid().await;
        let c = outboard.commitment();
        for i in (0..proof.encoded.len())
            .step_by(97)
            .chain([0, proof.encoded.len() - 1])
        {
            let mut bad = proof.clone();
            bad.encoded[i] ^= 0x01;
            assert_eq!(
                reason(verify(&challenge, &c, &bad, DEADLINE)),
                "bad_chunk",
                "flip at {i}"
            );
        }
    }

    #[tokio::test]
    async fn proof_for_other_positions_is_refused() {
        let (outboard, car, challenge, proof) = valid().await;
        let c = outboard.commitment();
        // A real proof for another nonce.
        let other = Challenge::new(c, 7, nonce(8), 12, DEADLINE);
        let other_proof = prove(&other, &car, &outboard).await.unwrap();
        assert_eq!(
            reason(verify(&challenge, &c, &other_proof, DEADLINE)),
            "wrong_positions"
        );
        // The same, relabelled as an answer to our challenge.
        let mut relabelled = other_proof.clone();
        relabelled.nonce = challenge.nonce;
        assert_eq!(
            reason(verify(&challenge, &c, &relabelled, DEADLINE)),
            "wrong_positions"
        );
        // Our chunk list with another encoding: the tree check catches it.
        let mut swapped = proof.clone();
        swapped.encoded = other_proof.encoded;
        assert_ne!(reason(verify(&challenge, &c, &swapped, DEADLINE)), "ok");
    }

    #[tokio::test]
    async fn truncated_and_padded_proofs_are_refused() {
        let (outboard, _, challenge, proof) = valid().await;
        let c = outboard.commitment();
        for cut in [0, 1, 63, 64, 500, proof.encoded.len() - 1] {
            let mut bad = proof.clone();
            bad.encoded.truncate(cut);
            assert_eq!(
                reason(verify(&challenge, &c, &bad, DEADLINE)),
                "truncated",
                "cut {cut}"
            );
        }
        let mut padded = proof.clone();
        padded.encoded.push(0);
        assert_eq!(
            reason(verify(&challenge, &c, &padded, DEADLINE)),
            "malformed"
        );
    }

    #[tokio::test]
    async fn proof_for_a_different_root_is_refused() {
        let (outboard, _, challenge, _) = valid().await;
        let (other_car, other_outboard) = sample_piece(4, 30_001).await;
        let mut other_challenge = challenge.clone();
        other_challenge.piece_root = other_outboard.commitment().root;
        other_challenge.piece_size = other_outboard.commitment().size;
        let other_proof = prove(&other_challenge, &other_car, &other_outboard)
            .await
            .unwrap();
        let c = outboard.commitment();
        assert_eq!(
            reason(verify(&challenge, &c, &other_proof, DEADLINE)),
            "wrong_root"
        );
        // Even claiming our root, its bytes do not hash to it.
        let mut lying = other_proof.clone();
        lying.piece_root = c.root;
        lying.chunks = challenge.distinct_chunks();
        assert_ne!(reason(verify(&challenge, &c, &lying, DEADLINE)), "ok");
        // A challenge for another piece than the commitment is refused too.
        assert_eq!(
            reason(verify(&other_challenge, &c, &other_proof, DEADLINE)),
            "wrong_root"
        );
    }

    #[tokio::test]
    async fn late_answer_is_refused() {
        let (outboard, _, challenge, proof) = valid().await;
        let c = outboard.commitment();
        assert_eq!(reason(verify(&challenge, &c, &proof, DEADLINE)), "ok");
        assert_eq!(reason(verify(&challenge, &c, &proof, DEADLINE + 1)), "late");
    }

    #[tokio::test]
    async fn oversized_and_non_canonical_proofs_are_refused() {
        let (outboard, _, challenge, proof) = valid().await;
        let mut big = proof.clone();
        big.encoded = vec![0; MAX_PROOF_SIZE + 1];
        assert_eq!(
            reason(verify(&challenge, &outboard.commitment(), &big, DEADLINE)),
            "too_large"
        );
        assert!(matches!(
            Proof::from_bytes(&big.to_bytes().unwrap()),
            Err(ProofError::TooLarge { .. })
        ));

        let bytes = proof.to_bytes().unwrap();
        assert_eq!(Proof::from_bytes(&bytes).unwrap(), proof);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Proof::from_bytes(&trailing),
            Err(ProofError::Malformed { .. })
        ));
        assert!(matches!(
            Proof::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ProofError::Malformed { .. })
        ));
    }

    #[tokio::test]
    async fn prover_refuses_other_pieces_and_reports_local_corruption() {
        let (outboard, mut car, challenge, _) = valid().await;
        let mut other = challenge.clone();
        other.piece_size += 1;
        assert!(matches!(
            prove(&other, &car, &outboard).await,
            Err(PieceError::WrongPiece(_))
        ));
        // Corrupt the piece where the first sample lies.
        let first = challenge.distinct_chunks()[0];
        car[(first * CHUNK_SIZE) as usize] ^= 1;
        assert!(matches!(
            prove(&challenge, &car, &outboard).await,
            Err(PieceError::Corrupt(_))
        ));
    }

    /// A piece source with whole chunk groups missing.
    struct Holey<'a> {
        data: &'a [u8],
        missing: &'a HashSet<u64>,
    }

    impl PieceSource for Holey<'_> {
        async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), PieceError> {
            let group = BLOCK_SIZE.bytes() as u64;
            let end = offset + buf.len() as u64;
            if (offset / group..end.div_ceil(group)).any(|g| self.missing.contains(&g)) {
                return Err(PieceError::Unavailable { offset, end });
            }
            self.data.read_at(offset, buf).await
        }
    }

    /// A provider missing a fraction `f` of the chunks passes `s` samples with probability
    /// `(1 - f)^s`: checked over many nonces, within 4.5 standard deviations, with a fixed seed.
    #[tokio::test]
    async fn detection_probability_matches_the_model() {
        // 100 full groups of 16 KiB plus a short tail: deletions are whole groups.
        let (car, outboard) = sample_piece(25, 65_000).await;
        let group = BLOCK_SIZE.bytes() as u64;
        let full_groups = car.len() as u64 / group;
        assert!(full_groups >= 99, "{full_groups}");
        let chunks = outboard.commitment().chunks();
        let samples = 10;
        let trials = 1500u64;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0ca1);
        for percent in [1u64, 10, 50] {
            let mut groups: Vec<u64> = (0..full_groups).collect();
            groups.shuffle(&mut rng);
            let k = (full_groups * percent).div_ceil(100);
            let missing: HashSet<u64> = groups[..k as usize].iter().copied().collect();
            let f = (k * group / CHUNK_SIZE) as f64 / chunks as f64;
            let source = Holey {
                data: &car,
                missing: &missing,
            };
            let mut passed = 0u64;
            for t in 0..trials {
                let challenge = Challenge::new(
                    outboard.commitment(),
                    t,
                    nonce(1000 * percent + t),
                    samples,
                    DEADLINE,
                );
                if let Ok(proof) = prove(&challenge, &source, &outboard).await {
                    verify(&challenge, &outboard.commitment(), &proof, DEADLINE).unwrap();
                    passed += 1;
                }
            }
            let p = (1.0 - f).powi(samples as i32);
            let rate = passed as f64 / trials as f64;
            let sigma = (p * (1.0 - p) / trials as f64).sqrt();
            assert!(
                (rate - p).abs() <= 4.5 * sigma + 1.0 / trials as f64,
                "f = {f:.4}: pass rate {rate:.4}, model {p:.4} (sigma {sigma:.4})"
            );
        }
    }
}
