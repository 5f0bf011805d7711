//! Errors of the proof module: [`ProofError`] is what a verifier concludes about a peer's
//! challenge or proof (every variant is the peer's fault or lateness, and has a stable
//! machine-readable [`ProofError::reason`] used by the golden vectors and the API);
//! [`PieceError`] is a local failure while building a piece or answering a challenge.

use cid::Cid;

use crate::content::car::CarError;
use crate::content::ContentError;

/// Why a challenge or a proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The challenge or the proof is about another piece than the commitment.
    #[error("wrong piece: {0}")]
    WrongRoot(String),
    /// The proof answers other positions than the challenge derives (or another challenge).
    #[error("wrong sample positions: {0}")]
    WrongPositions(String),
    /// The tree encoding ends before every sampled chunk and its proof are present.
    #[error("proof is truncated: {0}")]
    Truncated(String),
    /// A chunk or a tree node does not hash to what the piece root commits to.
    #[error("proof does not verify against the piece root: {0}")]
    BadChunk(String),
    /// The proof arrived after the challenge's deadline.
    #[error("proof arrived at {now_ms} ms, after the deadline {deadline_ms} ms")]
    Late { deadline_ms: u64, now_ms: u64 },
    /// Not a well-formed, canonically encoded object of the expected shape.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// Over a size cap (message bytes, sample count).
    #[error("{what} is {size}, over the limit of {max}")]
    TooLarge {
        what: &'static str,
        size: u64,
        max: u64,
    },
}

impl ProofError {
    /// Stable snake_case name of the variant (golden vectors, HTTP error reasons, metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            ProofError::WrongRoot(_) => "wrong_root",
            ProofError::WrongPositions(_) => "wrong_positions",
            ProofError::Truncated(_) => "truncated",
            ProofError::BadChunk(_) => "bad_chunk",
            ProofError::Late { .. } => "late",
            ProofError::Malformed { .. } => "malformed",
            ProofError::TooLarge { .. } => "too_large",
        }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl std::fmt::Display) -> Self {
        ProofError::Malformed {
            what,
            reason: reason.to_string(),
        }
    }
}

/// A local failure while building a piece or answering a challenge.
#[derive(Debug, thiserror::Error)]
pub enum PieceError {
    /// A block of the DAG is missing or unreadable. Boxed: `ContentError` carries a CID.
    #[error(transparent)]
    Content(Box<ContentError>),
    #[error(transparent)]
    Car(Box<CarError>),
    /// The block store returned a block whose length differs from the one the index recorded.
    #[error("piece index does not match block {cid}: indexed {indexed} bytes, stored {stored}")]
    IndexMismatch { cid: Cid, indexed: u64, stored: u64 },
    /// A read outside the piece, or of bytes this source does not hold.
    #[error("piece bytes {offset}..{end} are not available")]
    Unavailable { offset: u64, end: u64 },
    /// The challenge is about another piece than the one we hold.
    #[error("challenge is for another piece: {0}")]
    WrongPiece(String),
    /// The challenge itself is unacceptable (sample count, size caps).
    #[error("challenge refused: {0}")]
    BadChallenge(#[from] ProofError),
    /// Our own data or outboard no longer matches the commitment (bit rot, wrong outboard).
    #[error("local piece data is corrupt: {0}")]
    Corrupt(String),
    /// The outboard bytes do not fit the commitment.
    #[error("outboard is {size} bytes, expected {expected}")]
    BadOutboard { size: u64, expected: u64 },
    #[error("piece index: {0}")]
    BadIndex(String),
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl From<ContentError> for PieceError {
    fn from(e: ContentError) -> Self {
        PieceError::Content(Box::new(e))
    }
}

impl From<CarError> for PieceError {
    fn from(e: CarError) -> Self {
        PieceError::Car(Box::new(e))
    }
}
