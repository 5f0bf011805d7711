//! Challenges: the verifier's fresh request for `samples` chunks of a piece, and the one
//! deterministic derivation of the sampled chunk indices from it.

use cid::Cid;

use super::{
    decode_canonical, encode, PieceCommitment, ProofError, CHUNK_SIZE, MAX_CHALLENGE_SIZE,
    MAX_SAMPLES,
};
use crate::content::{Block, HashAlg, DAG_CBOR};

/// BLAKE3 `derive_key` context for the sample derivation (domain separation: these bytes are
/// never hashed for any other purpose).
pub const SAMPLE_CONTEXT: &str = "cairn/proof/1 challenge samples";

/// One audit of one piece for one period. Exchanged as DAG-CBOR (see `contracts/proof.md`);
/// fields are declared in DAG-CBOR canonical key order (shorter key first, then bytewise),
/// which is the order the encoding has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// 32 fresh random bytes chosen by the verifier.
    #[serde(with = "serde_bytes")]
    pub nonce: [u8; 32],
    /// Proof period number (the deal's schedule decides what a period is).
    pub period: u64,
    /// Number of chunks to sample, 1..=[`MAX_SAMPLES`].
    pub samples: u32,
    /// Unix time in milliseconds after which an answer is late.
    pub deadline: u64,
    /// The piece's BLAKE3 root.
    #[serde(with = "serde_bytes")]
    pub piece_root: [u8; 32],
    /// The piece's length in bytes.
    pub piece_size: u64,
}

impl Challenge {
    pub fn new(
        piece: PieceCommitment,
        period: u64,
        nonce: [u8; 32],
        samples: u32,
        deadline: u64,
    ) -> Self {
        Challenge {
            nonce,
            period,
            samples,
            deadline,
            piece_root: piece.root,
            piece_size: piece.size,
        }
    }

    /// The piece this challenge is about.
    pub fn piece(&self) -> PieceCommitment {
        PieceCommitment {
            root: self.piece_root,
            size: self.piece_size,
        }
    }

    /// Checks the rules a well-formed challenge follows.
    pub fn validate(&self) -> Result<(), ProofError> {
        if self.samples == 0 {
            return Err(ProofError::malformed(
                "challenge",
                "samples must be at least 1",
            ));
        }
        if self.samples > MAX_SAMPLES {
            return Err(ProofError::TooLarge {
                what: "challenge sample count",
                size: self.samples.into(),
                max: MAX_SAMPLES.into(),
            });
        }
        if self.piece_size == 0 {
            return Err(ProofError::malformed(
                "challenge",
                "piece_size must not be 0",
            ));
        }
        Ok(())
    }

    /// The sampled chunk indices in derivation order, duplicates included (sampling is with
    /// replacement, which makes the pass probability of a provider missing a fraction `f` of
    /// the chunks exactly `(1 - f)^samples`).
    ///
    /// 1. `n = ceil(piece_size / 1024)`.
    /// 2. `xof = BLAKE3-derive_key(SAMPLE_CONTEXT, piece_root ‖ u64le(piece_size) ‖
    ///    u64le(period) ‖ nonce)` in extendable-output mode.
    /// 3. Read the output 8 bytes at a time as a little-endian u64 `x`; reject `x` if
    ///    `x >= 2^64 - (2^64 mod n)` (so every index is equally likely), else take `x mod n`.
    /// 4. Stop after `samples` accepted indices.
    ///
    /// Derives at most [`MAX_SAMPLES`] indices: a challenge asking for more is invalid anyway
    /// ([`Challenge::validate`]), and this keeps a hostile count from sizing an allocation.
    pub fn sample_chunks(&self) -> Vec<u64> {
        let n = self.piece_size.div_ceil(CHUNK_SIZE);
        if n == 0 {
            return Vec::new();
        }
        let mut hasher = blake3::Hasher::new_derive_key(SAMPLE_CONTEXT);
        hasher.update(&self.piece_root);
        hasher.update(&self.piece_size.to_le_bytes());
        hasher.update(&self.period.to_le_bytes());
        hasher.update(&self.nonce);
        let mut xof = hasher.finalize_xof();
        // 2^64 mod n, computed without overflow.
        let rem = (u64::MAX % n + 1) % n;
        let limit = u64::MAX - rem; // accept x <= limit
        let samples = self.samples.min(MAX_SAMPLES) as usize;
        let mut out = Vec::with_capacity(samples);
        let mut word = [0u8; 8];
        while out.len() < samples {
            xof.fill(&mut word);
            let x = u64::from_le_bytes(word);
            if rem != 0 && x > limit {
                continue;
            }
            out.push(x % n);
        }
        out
    }

    /// The distinct sampled chunks in ascending order: what a proof contains.
    pub fn distinct_chunks(&self) -> Vec<u64> {
        let mut chunks = self.sample_chunks();
        chunks.sort_unstable();
        chunks.dedup();
        chunks
    }

    /// The canonical DAG-CBOR encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProofError> {
        encode(self, "challenge")
    }

    /// Decodes a challenge, refusing anything but its canonical encoding and anything over
    /// [`MAX_CHALLENGE_SIZE`], then [`Challenge::validate`]s it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let challenge: Challenge = decode_canonical(bytes, "challenge", MAX_CHALLENGE_SIZE)?;
        challenge.validate()?;
        Ok(challenge)
    }

    /// CIDv1 (dag-cbor, sha2-256) of the canonical encoding: the challenge's name in logs,
    /// the database and, later, in signed objects.
    pub fn cid(&self) -> Result<Cid, ProofError> {
        Ok(*Block::encode(DAG_CBOR, HashAlg::Sha2_256, self.to_bytes()?).cid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(size: u64, nonce: u8) -> Challenge {
        let piece = PieceCommitment {
            root: [7; 32],
            size,
        };
        Challenge::new(piece, 3, [nonce; 32], 20, 1_700_000_000_000)
    }

    #[test]
    fn positions_are_deterministic_and_in_range() {
        let c = challenge(1 << 30, 1);
        let a = c.sample_chunks();
        assert_eq!(a, c.sample_chunks());
        assert_eq!(a.len(), 20);
        assert!(a.iter().all(|&i| i < (1 << 20)));
        assert_ne!(a, challenge(1 << 30, 2).sample_chunks());
        let mut other_period = c.clone();
        other_period.period += 1;
        assert_ne!(a, other_period.sample_chunks());
    }

    #[test]
    fn tiny_piece_samples_its_only_chunk() {
        let c = challenge(10, 1);
        assert_eq!(c.sample_chunks(), vec![0; 20]);
        assert_eq!(c.distinct_chunks(), vec![0]);
    }

    #[test]
    fn positions_are_roughly_uniform() {
        // 3 chunks: 2^64 mod 3 = 1, so rejection matters in principle; check each bucket is hit
        // about a third of the time over many challenges.
        let mut counts = [0u32; 3];
        for nonce in 0..=255u8 {
            for i in challenge(3 * 1024, nonce).sample_chunks() {
                counts[i as usize] += 1;
            }
        }
        let total: u32 = counts.iter().sum();
        for c in counts {
            let share = f64::from(c) / f64::from(total);
            assert!((share - 1.0 / 3.0).abs() < 0.03, "{counts:?}");
        }
    }

    #[test]
    fn encoding_round_trips_and_is_canonical() {
        let c = challenge(123_456, 9);
        let bytes = c.to_bytes().unwrap();
        assert_eq!(Challenge::from_bytes(&bytes).unwrap(), c);
        // Keys in canonical order: nonce, period, samples, deadline, piece_root, piece_size.
        let text = String::from_utf8_lossy(&bytes);
        let order: Vec<usize> = [
            "nonce",
            "period",
            "samples",
            "deadline",
            "piece_root",
            "piece_size",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn bad_challenges_are_refused() {
        let mut c = challenge(5000, 1);
        c.samples = 0;
        assert!(matches!(
            Challenge::from_bytes(&c.to_bytes().unwrap()),
            Err(ProofError::Malformed { .. })
        ));
        c.samples = MAX_SAMPLES + 1;
        assert!(matches!(
            Challenge::from_bytes(&c.to_bytes().unwrap()),
            Err(ProofError::TooLarge { .. })
        ));
        let mut bytes = challenge(5000, 1).to_bytes().unwrap();
        bytes.push(0);
        assert!(matches!(
            Challenge::from_bytes(&bytes),
            Err(ProofError::Malformed { .. })
        ));
        assert!(matches!(
            Challenge::from_bytes(&vec![0u8; MAX_CHALLENGE_SIZE + 1]),
            Err(ProofError::TooLarge { .. })
        ));
    }
}
