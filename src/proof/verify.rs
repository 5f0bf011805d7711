//! The verifier: needs only the commitment `(root, size)`, the challenge it sent and the time
//! the answer arrived.

use bao_tree::io::sync::DecodeResponseIter;
use bao_tree::io::DecodeError;

use super::prove::chunk_ranges;
use super::{Challenge, PieceCommitment, Proof, ProofError, MAX_PROOF_SIZE};

/// Checks `proof` against the `challenge` the verifier sent for the piece `commitment`, for an
/// answer that arrived at `now_ms` (unix milliseconds; on time iff `now_ms <= deadline`).
///
/// Order of checks (the first failure is reported): lateness, challenge and proof name the
/// committed piece, the proof answers this challenge's positions, size cap, then the tree
/// encoding: every sampled chunk and tree node must hash up to the root, and nothing may
/// follow the encoding.
pub fn verify(
    challenge: &Challenge,
    commitment: &PieceCommitment,
    proof: &Proof,
    now_ms: u64,
) -> Result<(), ProofError> {
    if now_ms > challenge.deadline {
        return Err(ProofError::Late {
            deadline_ms: challenge.deadline,
            now_ms,
        });
    }
    challenge.validate()?;
    if challenge.piece() != *commitment {
        return Err(ProofError::WrongRoot(
            "the challenge is for another piece than the commitment".into(),
        ));
    }
    if proof.piece_root != commitment.root {
        return Err(ProofError::WrongRoot(format!(
            "proof is for root {}, expected {}",
            hex::encode(proof.piece_root),
            hex::encode(commitment.root)
        )));
    }
    if proof.period != challenge.period || proof.nonce != challenge.nonce {
        return Err(ProofError::WrongPositions(
            "the proof answers another challenge (period or nonce)".into(),
        ));
    }
    let expected = challenge.distinct_chunks();
    if proof.chunks != expected {
        return Err(ProofError::WrongPositions(format!(
            "proof has chunks {:?}, expected {expected:?}",
            proof.chunks
        )));
    }
    if proof.encoded.len() > MAX_PROOF_SIZE {
        return Err(ProofError::TooLarge {
            what: "proof encoding",
            size: proof.encoded.len() as u64,
            max: MAX_PROOF_SIZE as u64,
        });
    }
    let ranges = chunk_ranges(&expected);
    let mut reader = std::io::Cursor::new(&proof.encoded[..]);
    let items = DecodeResponseIter::new(
        commitment.root_hash(),
        commitment.tree(),
        &mut reader,
        &ranges,
    );
    for item in items {
        item.map_err(decode_error)?;
    }
    let consumed = reader.position();
    if consumed != proof.encoded.len() as u64 {
        return Err(ProofError::malformed(
            "proof",
            format!(
                "{} bytes after the tree encoding",
                proof.encoded.len() as u64 - consumed
            ),
        ));
    }
    Ok(())
}

fn decode_error(e: DecodeError) -> ProofError {
    match e {
        DecodeError::ParentNotFound(node) => {
            ProofError::Truncated(format!("ends before tree node {node:?}"))
        }
        DecodeError::LeafNotFound(chunk) => {
            ProofError::Truncated(format!("ends before chunk {}", chunk.0))
        }
        DecodeError::ParentHashMismatch(node) => {
            ProofError::BadChunk(format!("tree node {node:?} does not verify"))
        }
        DecodeError::LeafHashMismatch(chunk) => {
            ProofError::BadChunk(format!("chunk {} does not verify", chunk.0))
        }
        DecodeError::Io(e) => ProofError::malformed("proof", e),
    }
}
